#!/usr/bin/env bash
# Release build: dbalert for Linux x86_64 and aarch64 that runs on glibc 2.28 and later
# (Oracle Linux / RHEL 8 and newer, Debian 10+, Ubuntu 18.10+), packaged per architecture as
# an .rpm, a .deb and a .tar.gz in target/dist/. See packaging/README.md.
#
#   packaging/dist.sh [--arch x86_64|aarch64|host|all] [--profile dist|release]
#
# The version comes from Cargo.toml, the packages' changelog from CHANGELOG.md's section for
# that version (the [Unreleased] section, with a warning, while there is none).
#
# Needs: rustup, cargo-zigbuild and Zig (pip install ziglang cargo-zigbuild), dpkg-deb, and
# rpmbuild (Debian: apt-get install rpm). The Rust targets are added with rustup when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=all
profile=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs x86_64, aarch64, host or all}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --profile) profile=${2:?--profile needs a cargo profile}; shift 2 ;;
    --profile=*) profile=${1#--profile=}; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dist.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
host=$(uname -m)
case "$arch" in
  all) arches=(x86_64 aarch64) ;;
  host) arches=("$host") ;;
  x86_64|aarch64) arches=("$arch") ;;
  *) echo "dist.sh: --arch must be x86_64, aarch64, host or all, not $arch" >&2; exit 2 ;;
esac

# The oldest glibc the binaries may need: Oracle Linux 8 / RHEL 8 ship 2.28.
glibc=2.28
name=dbalert
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
# Package managers do not allow '-' in a version; '~' sorts a pre-release before the release.
pkgversion=${version//-/\~}
release=1
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
summary=$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
license=$(sed -n 's/^license = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] && [ -n "$maintainer" ] && [ -n "$summary" ] ||
  { echo "dist.sh: version, description or [package.metadata.packaging] maintainer missing in Cargo.toml" >&2; exit 1; }

out=target/dist
work=$out/work
rm -rf "$work"
mkdir -p "$out" "$work"
# The packages' timestamps. Not exported: C build scripts watch SOURCE_DATE_EPOCH, and a new
# value every run would rebuild them every time.
stamp=${SOURCE_DATE_EPOCH:-$(date +%s)}

log() { printf '== %s\n' "$*"; }

# -- the changelog section for this version ---------------------------------------------
notes=$work/notes.md
section_date=$(sed -n "s/^## \[$version\] - \([0-9-]*\).*/\1/p" CHANGELOG.md | head -n1)
if grep -q "^## \[$version\]" CHANGELOG.md; then
  heading="## [$version]"
else
  echo "dist.sh: warning: CHANGELOG.md has no section for $version; packaging the [Unreleased] notes" >&2
  heading="## [Unreleased]"
fi
awk -v h="$heading" 'index($0, h) == 1 { on = 1; next } on && /^## \[/ { exit } on' CHANGELOG.md >"$notes"
if [ -n "$section_date" ]; then
  changelog_epoch=$(date -u -d "$section_date 12:00" +%s)
else
  changelog_epoch=$stamp
fi
# One "Kind: text" line per entry, the Keep a Changelog subsection ("### Added") as its kind.
entries=$work/entries.txt
awk '/^### / { kind = substr($0, 5); n = 0; next }
     /^- / { print (kind != "" ? kind ": " : "") substr($0, 3); n = 1; next }
     n && /^ +[^ ]/ { sub(/^ +/, ""); print "  " $0; next }
     { n = 0 }' "$notes" >"$entries"
[ -s "$entries" ] || echo "Release $version." >"$entries"

# -- build ---------------------------------------------------------------------------------
triple() { echo "$1-unknown-linux-gnu"; }
build() { # arch -> path of the binary
  local t
  t=$(triple "$1")
  rustup target list --installed | grep -qx "$t" || rustup target add "$t" >&2
  log "build $t (glibc $glibc, profile $profile)" >&2
  cargo zigbuild --locked --profile "$profile" --target "$t.$glibc" >&2
  echo "${CARGO_TARGET_DIR:-target}/$t/$profile/$name"
}

declare -A bin
for a in "${arches[@]}"; do bin[$a]=$(build "$a"); done
# The man page and completions come from the binary itself, so one that runs here.
if [ -z "${bin[$host]:-}" ]; then bin[$host]=$(build "$host"); fi
gen=$work/generated
mkdir -p "$gen/completions"
"${bin[$host]}" man | gzip -9n >"$gen/$name.1.gz"
"${bin[$host]}" completions bash >"$gen/completions/$name.bash"
"${bin[$host]}" completions zsh >"$gen/completions/_$name"
"${bin[$host]}" completions fish >"$gen/completions/$name.fish"

# -- the installed tree, shared by every package --------------------------------------------
# stage ROOT ARCH ZSH_DIR: the files every package installs, below ROOT.
stage() {
  local root=$1 a=$2 zshdir=$3 doc=$1/usr/share/doc/$name
  install -Dm0755 "${bin[$a]}" "$root/usr/bin/$name"
  install -Dm0640 packaging/alerts.yaml "$root/etc/$name/alerts.yaml"
  chmod 0750 "$root/etc/$name"
  for unit in packaging/systemd/*; do
    install -Dm0644 "$unit" "$root/usr/lib/systemd/system/$(basename "$unit")"
  done
  install -Dm0644 "$gen/$name.1.gz" "$root/usr/share/man/man1/$name.1.gz"
  install -Dm0644 "$gen/completions/$name.bash" "$root/usr/share/bash-completion/completions/$name"
  install -Dm0644 "$gen/completions/_$name" "$root$zshdir/_$name"
  install -Dm0644 "$gen/completions/$name.fish" "$root/usr/share/fish/vendor_completions.d/$name.fish"
  mkdir -p "$root/usr/share/$name" "$doc"
  cp -r sql "$root/usr/share/$name/sql"
  cp README.md CHANGELOG.md alerts.yaml "$doc/"
  cp -r docs examples "$doc/"
  find "$root/usr/share" -type d -exec chmod 0755 {} +
  find "$root/usr/share" -type f -exec chmod 0644 {} +
  chmod 0755 "$doc/examples/quickstart/run.sh"
}

# -- .deb -------------------------------------------------------------------------------------
deb() {
  local a=$1 darch root=$work/deb-$1 file
  case "$a" in x86_64) darch=amd64 ;; aarch64) darch=arm64 ;; esac
  file=$out/${name}_${pkgversion}-${release}_$darch.deb
  log "deb $file"
  stage "$root" "$a" /usr/share/zsh/vendor-completions
  {
    echo "$name ($pkgversion-$release) unstable; urgency=medium"
    echo
    sed 's/^\([^ ]\)/  * \1/; s/^  \([^*]\)/    \1/' "$entries"
    echo
    echo " -- $maintainer  $(date -u -R -d "@$changelog_epoch")"
  } | gzip -9n >"$root/usr/share/doc/$name/changelog.Debian.gz"
  cat >"$root/usr/share/doc/$name/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $name

Files: *
Copyright: the $name authors
License: $license
EOF
  mkdir -p "$root/DEBIAN"
  cat >"$root/DEBIAN/control" <<EOF
Package: $name
Version: $pkgversion-$release
Architecture: $darch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: libc6 (>= $glibc), libgcc-s1 | libgcc1, passwd
Suggests: libaio1 | libaio1t64
Section: admin
Priority: optional
Description: $summary
 dbalert reads alerts out of databases (Oracle views and AQ queues, PostgreSQL,
 SQLite) and routes them to the Slack channels of the teams that own them. It
 runs from the included systemd timer (dbalert-poll.timer) or as a service
 (dbalert-run.service); both are installed disabled. Oracle sources need Oracle
 Instant Client at run time.
EOF
  echo "/etc/$name/alerts.yaml" >"$root/DEBIAN/conffiles"
  install -m0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$file" >/dev/null
}

# -- .rpm -------------------------------------------------------------------------------------
rpm_pkg() {
  local a=$1 top=$work/rpm-$1 root spec
  root=$top/root
  log "rpm $out/$name-$pkgversion-$release.$a.rpm"
  stage "$root" "$a" /usr/share/zsh/site-functions
  spec=$top/$name.spec
  {
    sed -e "s|@NAME@|$name|g" -e "s|@VERSION@|$pkgversion|g" -e "s|@RELEASE@|$release|g" \
        -e "s|@SUMMARY@|$summary|g" -e "s|@LICENSE@|$license|g" packaging/rpm/dbalert.spec.in
    echo "* $(date -u -d "@$changelog_epoch" '+%a %b %d %Y') $maintainer - $pkgversion-$release"
    sed 's/%/%%/g; s/^\([^ ]\)/- \1/' "$entries"
  } >"$spec"
  # Debian's rpmbuild, with the host's post-install steps (strip, debuginfo) off: the binary
  # is already stripped, and may be for another architecture. xz payload: rpm 4.14 (EL8)
  # reads it.
  rpmbuild -bb --quiet --target "$a-linux" \
    --define "_topdir $PWD/$top" \
    --define "_buildrootdir $PWD/$top/buildroot" \
    --define "stagedir $PWD/$root" \
    --define "_rpmdir $PWD/$out" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "_binary_payload w6.xzdio" \
    --define "debug_package %{nil}" \
    --define "__os_install_post %{nil}" \
    --define "_build_id_links none" \
    "$spec" >/dev/null
}

# -- .tar.gz ----------------------------------------------------------------------------------
tarball() {
  local a=$1 dir=$name-$version-$1-linux-gnu root
  root=$work/tar/$dir
  log "tarball $out/$dir.tar.gz"
  mkdir -p "$root/man" "$root/completions"
  install -m0755 "${bin[$a]}" "$root/$name"
  cp README.md CHANGELOG.md "$root/"
  cp packaging/alerts.yaml "$root/alerts.yaml"
  cp alerts.yaml "$root/alerts.reference.yaml"
  cp -r docs examples sql packaging/systemd "$root/"
  gunzip -c "$gen/$name.1.gz" >"$root/man/$name.1"
  cp "$gen/completions/"* "$root/completions/"
  tar --sort=name --mtime="@$stamp" --owner=0 --group=0 --numeric-owner \
    -C "$work/tar" -czf "$out/$dir.tar.gz" "$dir"
}

for a in "${arches[@]}"; do
  deb "$a"
  rpm_pkg "$a"
  tarball "$a"
done
(cd "$out" && sha256sum -- *.deb *.rpm *.tar.gz >SHA256SUMS)
log "done: $out"
ls -l "$out" | grep -v '^total\|work$'
