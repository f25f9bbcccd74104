"""DynamoDB: moto serves the tables and their streams; the stream pollers are Lambda's (``lambda_.mappings``)."""
