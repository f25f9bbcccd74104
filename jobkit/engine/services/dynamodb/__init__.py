"""DynamoDB: moto serves the tables and their streams; the stream pollers are Lambda's (``lambda_.mappings``);
the engine refuses reads of trimmed stream records (``streams``) and clears the data on a reset (``data``)."""
