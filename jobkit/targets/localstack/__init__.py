"""The ``localstack`` target: LocalStack's engine on this machine (host runtime) or in docker-compose.

Keep this module free of imports: LocalStack's engine imports the plugins of this package (executor,
patches, CloudFormation providers) in its own venv, where the project's dependencies are not installed.
"""
