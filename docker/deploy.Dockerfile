# The compose `deploy` service: Python 3.12, Node 20, the pinned CDK CLI and cdklocal, and jobkit itself,
# so the container deploys exactly as `jobkit deploy --target localstack` does on a host.
FROM node:20.20.2-bookworm-slim AS node

FROM python:3.12.11-slim-bookworm
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm

WORKDIR /jobkit
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY pyproject.toml README.md ./
COPY stack ./stack
COPY handlers ./handlers
COPY jobkit ./jobkit
COPY scenarios ./scenarios
COPY cdk.json .cfnlintrc.yaml ./
RUN pip install --no-cache-dir -e .

ENV CDK_DISABLE_CLI_TELEMETRY=1 \
    CDK_DISABLE_VERSION_CHECK=1 \
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
    NODE_NO_WARNINGS=1
ENTRYPOINT ["jobkit"]
CMD ["deploy", "--target", "localstack", "--endpoint-url", "http://localstack:4566", \
     "--public-endpoint-url", "http://127.0.0.1:4566"]
