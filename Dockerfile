# One image for every Twinlane service; docker-compose.yml picks the entry point per service.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the committed lockfile; install scripts only for the packages package.json's allowScripts approves.
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY . .
# A container's services must listen on every interface; with that, they refuse the published demo
# keys of config/sites.json: mount a sites file of your own and point SITES_FILE at it.
ENV NODE_ENV=production DATA_DIR=/app/data COLLECTOR_HOST=0.0.0.0 SERVING_HOST=0.0.0.0
CMD ["node", "--import", "tsx", "bin/twinlane.ts", "--help"]
