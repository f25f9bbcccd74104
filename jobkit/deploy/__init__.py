"""Deploying the one stack to a target, and checking that every resource of the template exists there."""
