from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from handlers.adapters.dynamodb import DynamoJobStore
from handlers.domain.locking import VersionConflict
from tests.unit.conftest import JobsTable


@pytest.fixture
def store(jobs_table: JobsTable) -> DynamoJobStore:
    return DynamoJobStore(jobs_table.name)  # client created lazily, inside moto


def test_get_item_deserializes_and_misses_cleanly(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.put_job("j", 3, fault="f")
    assert store.get_item("j") == {"id": "j", "seconds": 3, "version": 0, "job_status": {}, "fault": "f"}
    assert store.get_item("missing") is None


def test_put_status_sets_one_consumer_and_bumps_the_version(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.put_job("j", 3, job_status={"consumer_2": {"status": "Running"}})
    store.put_status("j", "consumer_1", {"status": "Running"}, expected_version=0, create_map=False)
    item = jobs_table.item("j")
    assert item["version"] == 1
    assert item["job_status"] == {"consumer_1": {"status": "Running"}, "consumer_2": {"status": "Running"}}


def test_stale_version_is_a_version_conflict(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.put_job("j", 3, version=5)
    with pytest.raises(VersionConflict) as info:
        store.put_status("j", "consumer_1", {"status": "Running"}, expected_version=4, create_map=False)
    assert isinstance(info.value.__cause__, ClientError)
    assert jobs_table.version("j") == 5
    assert info.value.current is not None and info.value.current["version"] == 5  # the item as the write found it


def test_create_map_when_the_item_has_no_job_status(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.client.put_item(
        TableName=jobs_table.name, Item={"id": {"S": "j"}, "seconds": {"N": "1"}, "version": {"N": "0"}}
    )
    store.put_status("j", "consumer_1", {"status": "Running"}, expected_version=0, create_map=True)
    assert jobs_table.item("j")["job_status"] == {"consumer_1": {"status": "Running"}}


def test_item_without_version_is_written_once(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.put_job("j", 1, version=None)
    store.put_status("j", "consumer_1", {"status": "Running"}, expected_version=None, create_map=False)
    assert jobs_table.version("j") == 1
    with pytest.raises(VersionConflict):
        store.put_status("j", "consumer_1", {"status": "Running"}, expected_version=None, create_map=False)


def test_missing_item_is_never_created(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    with pytest.raises(VersionConflict) as info:
        store.put_status("ghost", "consumer_1", {"status": "Running"}, expected_version=None, create_map=True)
    assert info.value.current is None
    assert store.get_item("ghost") is None


def test_bump_version_touches_only_the_version(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.put_job("j", 1)
    store.bump_version("j")
    assert jobs_table.item("j") == {"id": "j", "seconds": 1, "version": 1, "job_status": {}}


def test_failure_status_numbers_round_trip(jobs_table: JobsTable, store: DynamoJobStore) -> None:
    jobs_table.put_job("j", 1)
    status = {"status": "Failure", "seconds": 1, "error": "RecordAgeExceeded"}
    store.put_status("j", "consumer_1", status, expected_version=0, create_map=False)
    assert jobs_table.status("j") == status
