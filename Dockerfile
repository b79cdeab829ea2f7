# Test podns inside a privileged container:
#   docker build -t podns . && docker run --rm --privileged podns
# The steps mirror .ci/run.
FROM node:20-bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nftables busybox-static iproute2 procps util-linux tar make g++ python3 musl-tools xz-utils bzip2 zstd \
      docker-registry skopeo umoci apache2-utils openssl containerd runc containernetworking-plugins \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /podns
# npm ci builds everything (native layer, TypeScript, bundle: the install and prepare scripts), so it needs the whole tree.
COPY . .
RUN npm ci --no-audit --no-fund

ENV PODNS_REQUIRE_ROOT_TESTS=1
CMD ["npm", "test"]
