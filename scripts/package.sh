#!/usr/bin/env bash
# Builds the Debian packages: fleetd_VERSION_ARCH.deb (fleetd, fleetctl, fleet-node, their config
# under /etc/fleetd, systemd units, a system user) and libfleetd-dev_VERSION_ARCH.deb (headers,
# libraries, the CMake package and the pkg-config file).
# Usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--fast]
#   Without --build-dir it configures and builds a Release tree in build-package/ first (run
#   scripts/setup.sh once before, for the build dependencies). --out defaults to dist/. --fast
#   compresses with gzip -1 instead of xz (the tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

build_dir=""
out_dir="dist"
compression=(-Zxz)
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out_dir=$2; shift 2 ;;
    --fast) compression=(-Zgzip -z1); shift ;;
    *) echo "usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--fast]" >&2; exit 2 ;;
  esac
done

if [[ -z "$build_dir" ]]; then
  build_dir=build-package
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target fleetd fleetctl fleet-node fleetd_node fleetd_daemon fleet_client
fi
version=$(sed -n 's/^#define FLEETD_VERSION "\(.*\)"$/\1/p' "$build_dir/include/fleetd/version.hpp")
[[ -n "$version" ]] || { echo "package: no FLEETD_VERSION in $build_dir" >&2; exit 1; }
arch=$(dpkg --print-architecture)
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/all/usr" >/dev/null

# -- fleetd: the programs, their configuration and the services.
run=$work/fleetd
install -d "$run/usr/bin" "$run/etc/fleetd" "$run/lib/systemd/system" "$run/usr/share/doc/fleetd" "$run/DEBIAN"
for program in fleetd fleetctl fleet-node; do
  install -m 0755 "$work/all/usr/bin/$program" "$run/usr/bin/$program"
  strip --strip-unneeded "$run/usr/bin/$program"
done
# The example configuration, pointed at the service's state directory; exec stays off until the
# operator names programs.
sed -e 's|^db=.*|db="/var/lib/fleetd/fleet.db"|' -e 's|^exec-allow=.*|exec-allow=""|' \
    -e 's|build/bin/fleetd --config-file=config/fleetd.ini|systemctl start fleetd  (or: fleetd --config-file=/etc/fleetd/fleetd.ini)|' \
    -e 's|build/bin/fleet-node|fleet-node|' \
    config/fleetd.ini > "$run/etc/fleetd/fleetd.ini"
sed -e 's|build/bin/fleet-node --config-file=config/fleet-node.ini|systemctl start fleet-node  (or: fleet-node --config-file=/etc/fleetd/fleet-node.ini)|' \
    config/fleet-node.ini > "$run/etc/fleetd/fleet-node.ini"
install -m 0644 packaging/fleetd.service packaging/fleet-node.service "$run/lib/systemd/system/"
install -m 0644 README.md "$run/usr/share/doc/fleetd/README.md"
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$run/DEBIAN/"
printf '/etc/fleetd/fleetd.ini\n/etc/fleetd/fleet-node.ini\n' > "$run/DEBIAN/conffiles"
# The shared libraries the programs need, as Debian names their packages.
mkdir -p "$work/shlibs/debian"
printf 'Source: fleetd\n\nPackage: fleetd\nArchitecture: any\n' > "$work/shlibs/debian/control"
depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$run/usr/bin/fleetd" "$run/usr/bin/fleetctl" \
            "$run/usr/bin/fleet-node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
cat > "$run/DEBIAN/control" <<CONTROL
Package: fleetd
Version: $version
Architecture: $arch
Maintainer: fleetd developers <fleetd@localhost>
Section: admin
Priority: optional
Depends: ${depends:+$depends, }adduser, tzdata
Installed-Size: $(du -ks "$run" | cut -f1)
Description: durable fleet manager: batches of tasks on bounded workers, stored in SQLite
 fleetd accepts batches of tasks and runs each on a short-lived worker, with priorities,
 timeouts, retries with backoff, cancellation and worker nodes, and keeps all of it in SQLite
 so that it resumes after a crash. fleetctl drives it; fleet-node adds worker nodes.
CONTROL
dpkg-deb --root-owner-group "${compression[@]}" --build "$run" "$out_dir/fleetd_${version}_${arch}.deb" >/dev/null

# -- libfleetd-dev: what a C++ project builds against (find_package(fleetd), pkg-config).
dev=$work/dev
install -d "$dev/usr/share/doc/libfleetd-dev" "$dev/DEBIAN"
cp -a "$work/all/usr/include" "$dev/usr/include"
mkdir -p "$dev/usr/lib"
cp -a "$work/all/usr/lib/." "$dev/usr/lib/"
install -m 0644 docs/SDK.md "$dev/usr/share/doc/libfleetd-dev/SDK.md"
cp -a examples "$dev/usr/share/doc/libfleetd-dev/examples"
cat > "$dev/DEBIAN/control" <<CONTROL
Package: libfleetd-dev
Version: $version
Architecture: $arch
Maintainer: fleetd developers <fleetd@localhost>
Section: libdevel
Priority: optional
Depends: libcaf-dev (>= 0.17.6), libfmt-dev, libssl-dev, nlohmann-json3-dev, libspdlog-dev, libsqlite3-dev, libpq-dev, libcpp-httplib-dev, libcctz-dev, zlib1g-dev, pkg-config
Installed-Size: $(du -ks "$dev" | cut -f1)
Description: fleetd's C++ SDK: clients, worker nodes and daemons of your own
 Headers, static libraries, the CMake package (find_package(fleetd) with fleetd::client,
 fleetd::node and fleetd::server) and the pkg-config file of the client.
CONTROL
dpkg-deb --root-owner-group "${compression[@]}" --build "$dev" "$out_dir/libfleetd-dev_${version}_${arch}.deb" >/dev/null

echo "$out_dir/fleetd_${version}_${arch}.deb"
echo "$out_dir/libfleetd-dev_${version}_${arch}.deb"
