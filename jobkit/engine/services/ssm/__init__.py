"""SSM Parameter Store: the stack's parameters (moto serves the API; the engine adds the CloudFormation type)."""
