# The one image behind charts/tandem: the CA (`tandem ca serve`), the injector (`tandem injector serve`),
# the injected sidecar (`tandem sidecar`) and its init container (`tandem iptables install`).
# Build after `npm run build`: dist/ is copied as built, not compiled here — the SO_ORIGINAL_DST
# module (dist/native/original_dst.node) included, so build on a Linux host of the image's
# architecture (x86-64, glibc: this base is Debian, as the development machines are).
#   docker build -t ghcr.io/tandem-mesh/tandem:0.1.0 .
FROM node:24-slim

# iptables for the init container (which runs as root, by its securityContext); nothing else is added.
RUN apt-get update \
  && apt-get install -y --no-install-recommends iptables \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY dist/ ./dist/

# The injected pod's preStop and postStart hooks run `tandem drain` / `tandem wait-ready`: the command
# must be on PATH, not only the entrypoint.
RUN chmod +x dist/sidecar/cli/main.js && ln -s /app/dist/sidecar/cli/main.js /usr/local/bin/tandem

# The UID the chart's pods and the sidecar run as; the iptables rules let its traffic through.
USER 1337:1337
ENTRYPOINT ["node", "/app/dist/sidecar/cli/main.js"]
