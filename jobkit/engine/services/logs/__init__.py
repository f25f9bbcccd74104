"""CloudWatch Logs: moto serves the API; functions' logs and EventBridge's Logs targets write into it."""
