# A ken-node image: the CLI as the entrypoint, the data directory a volume.
# docker-compose.yml runs three of these as a cluster (docs/operations.md).
FROM node:20-bookworm-slim

# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
# `npm ci` builds dist/ (the prepare script); the dev dependencies go after.
RUN npm ci && npm prune --omit=dev && ln -s /app/bin/ken-node.js /usr/local/bin/ken-node

# The node's store, key, config and admin token.
VOLUME /data
# libp2p (the admin endpoint stays on the container's 127.0.0.1).
EXPOSE 4001
ENTRYPOINT ["ken-node"]
CMD ["--help"]
