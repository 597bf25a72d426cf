# One image for every Twinlane service; docker-compose.yml picks the entry point per service.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci refuses the lockfile on some mirrors (optional DuckDB bindings of other platforms); install keeps the locked versions.
RUN npm install --no-audit --no-fund && npm cache clean --force
COPY . .
ENV NODE_ENV=production DATA_DIR=/app/data
CMD ["node", "--import", "tsx", "bin/twinlane.ts", "--help"]
