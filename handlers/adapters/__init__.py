"""The only modules that import boto3: the domain protocols implemented against AWS APIs.

Clients are created on first use (importing works without a region) with plain ``boto3.client(...)``,
so AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> are honoured natively by boto3 (LocalStack, moto server).
"""
