"""ECR: moto serves the API; the bootstrap stack's container assets repository is made here (the engine runs
no container images)."""
