# Moonbase server image: Debian 12 (bookworm), multi-stage.
#
# Docker does not run on the machines this project is developed and tested on, so this file is
# not exercised by CI. To keep it honest, the build stage runs exactly the steps CI runs
# (`make test` -> tools/install-deps.sh, then tools/build.sh default = `cmake --preset default`
# + `cmake --build build`, then the C unit tests with ctest). Change those scripts, not this file.
#
#   docker build -t moonbase .
#   docker run --rm -p 7350:7350 -e MOONBASE_DATABASE_URL=postgres://... moonbase
#   docker compose up            (PostgreSQL 15 + moonbase, see docker-compose.yml)
#   podman build --format docker -t moonbase .   (podman: the default OCI format drops HEALTHCHECK)
#
# In development mode the server writes its admin token to /var/lib/moonbase/dev-admin-token:
#   docker compose exec moonbase cat /var/lib/moonbase/dev-admin-token

# ---- build stage: the same install and build as CI --------------------------------------------
FROM debian:bookworm AS build
WORKDIR /src
# Dependencies first (their own layer: source edits don't reinstall packages).
COPY tools/install-deps.sh tools/install-deps.sh
COPY package.json package-lock.json .npmrc ./
RUN tools/install-deps.sh
COPY . .
RUN tools/build.sh default \
 && ctest --test-dir build --output-on-failure
# What the runtime stage takes: the binary and the folders it serves from.
RUN mkdir -p /out/opt/moonbase \
 && install -m 0755 build/moonbase /out/opt/moonbase/moonbase \
 && mkdir -p /out/opt/moonbase/sdk/js \
 && cp -r sdk/js/src /out/opt/moonbase/sdk/js/ \
 && cp LICENSE NOTICE /out/opt/moonbase/ \
 && for d in migrations scripts console demo; do \
      if [ -d "$d" ]; then cp -r "$d" /out/opt/moonbase/; fi; \
    done

# ---- runtime stage: only the shared libraries the binary needs ------------------------------
# (libwebsockets-evlib-ev: lws 4.1 loads its libev event loop as a plugin at run time.)
FROM debian:bookworm-slim AS runtime
LABEL org.opencontainers.image.title="moonbase" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 libwebsockets-evlib-ev libev4 libluajit2-5.1-2 lua-cjson \
      libjansson4 libyajl2 libsodium23 libpq5 libssl3 libhiredis0.14 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/moonbase --shell /usr/sbin/nologin moonbase
COPY --from=build /out/ /
RUN ln -s /opt/moonbase/moonbase /usr/local/bin/moonbase
# The server resolves ./scripts, ./migrations, ./console and ./demo from here; its state
# (development keys) goes to the moonbase user's home, a volume.
WORKDIR /opt/moonbase
ENV MOONBASE_DATA_DIR=/var/lib/moonbase
VOLUME ["/var/lib/moonbase"]
USER moonbase
EXPOSE 7350
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${MOONBASE_PORT:-7350}/healthz" >/dev/null || exit 1
# Production: set MOONBASE_MODE=production, MOONBASE_JWT_SECRET and MOONBASE_ADMIN_TOKEN.
CMD ["moonbase", "--host", "0.0.0.0"]
