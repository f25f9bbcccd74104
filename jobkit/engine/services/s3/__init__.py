"""S3: moto serves the API (the bootstrap bucket, the objects cdk uploads); the Lambda API and CloudFormation
read objects from it (function code, TemplateURL)."""
