"""KMS: keys of the stack (moto serves the API; the engine adds their CloudFormation type)."""
