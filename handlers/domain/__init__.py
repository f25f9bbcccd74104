"""Plain domain logic of the jobs pattern.

Nothing in this package imports boto3: the AWS calls live in ``handlers.adapters`` behind the small
protocols declared here, so the rules (status shapes, timeout refusal, optimistic locking, fault plans)
are tested without any AWS emulation and reused unchanged by every target.
"""
