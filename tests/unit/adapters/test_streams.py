from __future__ import annotations

import pytest

from handlers.adapters.streams import DynamoStreamReader
from handlers.domain.error_handling import StreamRecordUnavailable
from tests.unit.conftest import JobsTable


def test_reads_back_the_new_image_at_a_sequence_number(jobs_table: JobsTable) -> None:
    first = jobs_table.put_job("job-1", 3)
    jobs_table.put_job("job-2", 4)
    reader = DynamoStreamReader()
    image = reader.read_new_image(jobs_table.stream_arn, jobs_table.shard_id, first["dynamodb"]["SequenceNumber"])
    assert image == {"id": "job-1", "seconds": 3, "version": 0, "job_status": {}}


def test_a_sequence_number_past_the_end_is_unavailable(jobs_table: JobsTable) -> None:
    record = jobs_table.put_job("job-1", 3)
    gone = str(int(record["dynamodb"]["SequenceNumber"]) + 1000)
    with pytest.raises(StreamRecordUnavailable, match="trimmed after 24 h"):
        DynamoStreamReader().read_new_image(jobs_table.stream_arn, jobs_table.shard_id, gone)


def test_a_stream_of_another_environment_is_unavailable(jobs_table: JobsTable) -> None:
    record = jobs_table.put_job("job-1", 3)
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/other-env-jobs/stream/2023-11-14T22:13:20.000"
    with pytest.raises(StreamRecordUnavailable, match="cannot read the failed record"):
        DynamoStreamReader().read_new_image(other, jobs_table.shard_id, record["dynamodb"]["SequenceNumber"])
