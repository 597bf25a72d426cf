# One image for every Twinlane service; docker-compose.yml picks the entry point per service.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the committed lockfile; install scripts only for the packages package.json's allowScripts approves.
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY . .
ENV NODE_ENV=production DATA_DIR=/app/data
CMD ["node", "--import", "tsx", "bin/twinlane.ts", "--help"]
