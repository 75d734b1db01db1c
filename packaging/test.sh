#!/usr/bin/env bash
# Packaging tests (run by .ci/run, as root): builds the packages for this machine's
# architecture with packaging/dist.sh, then
#   - the binary needs no glibc newer than 2.28 (objdump -T) and runs --version;
#   - the .deb installs for real (dpkg -i), works (--version, man -w, completions, the dbalert
#     user, systemd-analyze verify, check on the shipped config), is removed (dpkg -r: config
#     and state kept) and purged (dpkg -P: gone);
#   - the .rpm is inspected with rpm (files, modes, owners, %config(noreplace), scriptlets,
#     version, weak dependency) and installed into and erased from a scratch root;
#   - the tarball holds the binary, man page and completions.
# It installs what it needs by package name. The build's target directory is kept in
# $DBALERT_DIST_TARGET (default ~/.cache/dbalert/dist-target) so that later runs on the same
# machine rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok: $*"; }
fail() { fails=$((fails + 1)); echo "FAIL: $*" >&2; }
check() { # description, command...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
step() { printf '\n== packaging: %s (%ss)\n' "$*" "$SECONDS"; }

step "tools"
need_apt=()
command -v rpmbuild >/dev/null || need_apt+=(rpm)
command -v objdump >/dev/null || need_apt+=(binutils)
command -v man >/dev/null || need_apt+=(man-db)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v useradd >/dev/null || need_apt+=(passwd)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check ziglang cargo-zigbuild
fi
cargo-zigbuild --version
echo "zig $(python3 -m ziglang version)"
rpmbuild --version

step "build (packaging/dist.sh --arch host)"
export CARGO_TARGET_DIR=${DBALERT_DIST_TARGET:-$HOME/.cache/dbalert/dist-target}
mkdir -p "$CARGO_TARGET_DIR"
build_start=$SECONDS
packaging/dist.sh --arch host
echo "dist.sh took $((SECONDS - build_start))s"

arch=$(uname -m)
case "$arch" in x86_64) darch=amd64 ;; aarch64) darch=arm64 ;; *) echo "unsupported $arch" >&2; exit 1 ;; esac
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
pkgversion=${version//-/\~}
out=target/dist
deb=$out/dbalert_${pkgversion}-1_$darch.deb
rpm=$out/dbalert-${pkgversion}-1.$arch.rpm
tarball=$out/dbalert-$version-$arch-linux-gnu.tar.gz
bin=$CARGO_TARGET_DIR/$arch-unknown-linux-gnu/dist/dbalert
ls -l "$deb" "$rpm" "$tarball" "$bin"

step "binary: glibc and --version"
max_glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
echo "highest GLIBC_ symbol version: $max_glibc"
check "binary needs glibc <= 2.28 (needs $max_glibc)" \
  test "$(printf '%s\n2.28\n' "$max_glibc" | sort -V | tail -n1)" = 2.28
check "binary runs --version" "$bin" --version
"$bin" -v --version

step "deb: install"
deb_field() { dpkg-deb -f "$deb" "$1"; }
check "deb version is $pkgversion-1" test "$(deb_field Version)" = "$pkgversion-1"
check "deb declares its conffile" sh -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/dbalert/alerts.yaml"
dpkg-deb -c "$deb" >"$out/work/deb-contents.txt"
check "deb holds /usr/bin/dbalert 0755 root" grep -Eq '^-rwxr-xr-x root/root .* \./usr/bin/dbalert$' "$out/work/deb-contents.txt"
# A dbalert left over from an earlier run (or a failed one) goes first.
dpkg -P dbalert >/dev/null 2>&1 || true
trap 'dpkg -P dbalert >/dev/null 2>&1 || true' EXIT
# Docker-style images exclude man pages from dpkg installs; this test wants them.
dpkg --path-include='/usr/share/man/man1/dbalert.1.gz' -i "$deb"
check "dpkg reports it installed" sh -c "dpkg-query -W -f='\${Status}' dbalert | grep -q 'install ok installed'"
check "dbalert --version (installed)" sh -c "/usr/bin/dbalert --version | grep -qx 'dbalert $version'"
check "man -w dbalert" man -w dbalert
for f in /usr/share/bash-completion/completions/dbalert /usr/share/zsh/vendor-completions/_dbalert \
  /usr/share/fish/vendor_completions.d/dbalert.fish; do
  check "completion $f" test -s "$f"
done
check "dbalert system user" sh -c 'getent passwd dbalert | grep -q ":/var/lib/dbalert:/usr/sbin/nologin$"'
check "dbalert user is a system user" test "$(id -u dbalert)" -lt 1000
check "/var/lib/dbalert is 0700 dbalert:dbalert" test "$(stat -c '%a %U %G' /var/lib/dbalert)" = "700 dbalert dbalert"
check "/etc/dbalert is 0750 root:dbalert" test "$(stat -c '%a %U %G' /etc/dbalert)" = "750 root dbalert"
check "alerts.yaml is 0640 root:dbalert" test "$(stat -c '%a %U %G' /etc/dbalert/alerts.yaml)" = "640 root dbalert"
check "SQL kits installed" test -s /usr/share/dbalert/sql/oracle/01_user.sql
check "docs installed" test -s /usr/share/doc/dbalert/README.md -a -s /usr/share/doc/dbalert/docs/install.md \
  -a -s /usr/share/doc/dbalert/examples/oracle/alerts.yaml
check "deb changelog" sh -c "zcat /usr/share/doc/dbalert/changelog.Debian.gz | head -n1 | grep -q '^dbalert ($pkgversion-1)'"
# Not PID 1 here, but verify loads units offline: syntax, the ExecStart binary, the man page.
check "systemd-analyze verify the units" systemd-analyze verify \
  /usr/lib/systemd/system/dbalert-poll.service /usr/lib/systemd/system/dbalert-poll.timer \
  /usr/lib/systemd/system/dbalert-run.service
check "units are not enabled" test ! -e /etc/systemd/system/timers.target.wants/dbalert-poll.timer \
  -a ! -e /etc/systemd/system/multi-user.target.wants/dbalert-run.service
# The shipped config names its secrets as ${env:}: check it with placeholders for them.
check "the dbalert user can read and check the shipped config" \
  runuser -u dbalert -- env PROD_ORACLE_CONNECT=//db.invalid:1521/PROD PROD_DBALERT_PASSWORD=x \
  SLACK_DBA_WEBHOOK=https://hooks.slack.com/services/T0/B0/X /usr/bin/dbalert -c /etc/dbalert/alerts.yaml check
check "the dbalert user can read /etc/dbalert and write its state directory" \
  runuser -u dbalert -- sh -c 'cat /etc/dbalert/alerts.yaml >/dev/null && touch /var/lib/dbalert/probe && rm /var/lib/dbalert/probe'

step "deb: remove (config and state kept) and purge"
echo "# edited by the packaging test" >>/etc/dbalert/alerts.yaml
echo "SLACK_DBA_WEBHOOK=https://hooks.slack.com/services/T0/B0/X" >/etc/dbalert/dbalert.env
runuser -u dbalert -- sh -c 'echo state >/var/lib/dbalert/state.db'
dpkg -r dbalert
check "dpkg -r: binary gone" test ! -e /usr/bin/dbalert
check "dpkg -r: units gone" test ! -e /usr/lib/systemd/system/dbalert-poll.service
check "dpkg -r: edited config kept" grep -q 'edited by the packaging test' /etc/dbalert/alerts.yaml
check "dpkg -r: env file kept" test -e /etc/dbalert/dbalert.env
check "dpkg -r: state kept" test -s /var/lib/dbalert/state.db
check "dpkg -r: status config-files" sh -c "dpkg-query -W -f='\${Status}' dbalert | grep -q 'deinstall ok config-files'"
dpkg -P dbalert
check "dpkg -P: config gone" test ! -e /etc/dbalert
check "dpkg -P: state gone" test ! -e /var/lib/dbalert
check "dpkg -P: package unknown" sh -c '! dpkg-query -W dbalert >/dev/null 2>&1'

step "rpm: inspect"
rq() { rpm -qp --nosignature "$@" "$rpm" 2>/dev/null; }
rq -i
check "rpm version $pkgversion-1" test "$(rq --qf '%{VERSION}-%{RELEASE}')" = "$pkgversion-1"
check "rpm arch $arch" test "$(rq --qf '%{ARCH}')" = "$arch"
rq -lv >"$out/work/rpm-contents.txt"
cat "$out/work/rpm-contents.txt" | grep -v '/usr/share/doc/\|/usr/share/dbalert/sql/' || true
rpm_mode() { # path -> "mode user group" of the entry
  rq --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' | awk -v p="$1" '$4 == p { print $1, $2, $3 }'
}
check "rpm /usr/bin/dbalert -rwxr-xr-x root root" test "$(rpm_mode /usr/bin/dbalert)" = "-rwxr-xr-x root root"
check "rpm /etc/dbalert drwxr-x--- root dbalert" test "$(rpm_mode /etc/dbalert)" = "drwxr-x--- root dbalert"
check "rpm alerts.yaml -rw-r----- root dbalert" test "$(rpm_mode /etc/dbalert/alerts.yaml)" = "-rw-r----- root dbalert"
check "rpm /var/lib/dbalert drwx------ dbalert dbalert" test "$(rpm_mode /var/lib/dbalert)" = "drwx------ dbalert dbalert"
for f in /usr/lib/systemd/system/dbalert-poll.service /usr/lib/systemd/system/dbalert-poll.timer \
  /usr/lib/systemd/system/dbalert-run.service /usr/share/man/man1/dbalert.1.gz \
  /usr/share/bash-completion/completions/dbalert /usr/share/zsh/site-functions/_dbalert \
  /usr/share/fish/vendor_completions.d/dbalert.fish /usr/share/dbalert/sql/oracle/01_user.sql \
  /usr/share/doc/dbalert/README.md /usr/share/doc/dbalert/examples/oracle/alerts.yaml; do
  check "rpm holds $f -rw-r--r-- root root" test "$(rpm_mode "$f")" = "-rw-r--r-- root root"
done
check "rpm: alerts.yaml is %config(noreplace)" \
  sh -c "rpm -qp --nosignature --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$rpm' 2>/dev/null | grep -qx 'cn /etc/dbalert/alerts.yaml'"
rq --scripts >"$out/work/rpm-scripts.txt"
check "rpm %pre creates the group and user" sh -c "grep -A4 '^preinstall' '$out/work/rpm-scripts.txt' | grep -q 'groupadd -r dbalert' &&
  grep -A6 '^preinstall' '$out/work/rpm-scripts.txt' | grep -q 'useradd -r -g dbalert -d /var/lib/dbalert'"
check "rpm recommends oracle-instantclient-basic" sh -c "rpm -qp --nosignature --recommends '$rpm' 2>/dev/null | grep -qx oracle-instantclient-basic"
rq --requires >"$out/work/rpm-requires.txt"
rpm_glibc=$(grep -o 'GLIBC_[0-9.]*' "$out/work/rpm-requires.txt" | sed 's/GLIBC_//' | sort -uV | tail -n1)
echo "highest GLIBC_ in the rpm's requirements: $rpm_glibc"
check "rpm requires glibc <= 2.28" test "$(printf '%s\n2.28\n' "$rpm_glibc" | sort -V | tail -n1)" = 2.28
check "rpm changelog" sh -c "rpm -qp --nosignature --changelog '$rpm' 2>/dev/null | head -n1 | grep -q -- '- $pkgversion-1\$'"
check "rpm payload is xz (readable by EL8's rpm 4.14)" test "$(rq --qf '%{PAYLOADCOMPRESSOR}')" = xz

step "rpm: install into a scratch root, then erase"
scratch=$(mktemp -d)
trap 'dpkg -P dbalert >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
# The scratch root has no shell, so the scriptlets cannot run there (their text is checked
# above); the user they would make is written into its passwd so that owners resolve.
mkdir -p "$scratch/etc"
printf 'root:x:0:0:root:/root:/bin/sh\ndbalert:x:990:990::/var/lib/dbalert:/sbin/nologin\n' >"$scratch/etc/passwd"
printf 'root:x:0:\ndbalert:x:990:\n' >"$scratch/etc/group"
rpm --root "$scratch" --initdb
check "rpm -i --root --nodeps --noscripts" rpm -i --root "$scratch" --nodeps --noscripts --nosignature "$rpm"
check "rpm -q in the scratch root" sh -c "rpm --root '$scratch' -q dbalert | grep -qx 'dbalert-$pkgversion-1.$arch'"
check "scratch: /usr/bin/dbalert 755" test "$(stat -c %a "$scratch/usr/bin/dbalert")" = 755
check "scratch: /var/lib/dbalert 700 990:990" test "$(stat -c '%a %u:%g' "$scratch/var/lib/dbalert")" = "700 990:990"
check "scratch: alerts.yaml 640 0:990" test "$(stat -c '%a %u:%g' "$scratch/etc/dbalert/alerts.yaml")" = "640 0:990"
check "scratch: rpm -V clean" rpm --root "$scratch" -V --nodeps --noscripts dbalert
echo "# edited" >>"$scratch/etc/dbalert/alerts.yaml"
echo state >"$scratch/var/lib/dbalert/state.db"
check "rpm -e --root" rpm -e --root "$scratch" --nodeps --noscripts dbalert
check "rpm -e: binary gone" test ! -e "$scratch/usr/bin/dbalert"
check "rpm -e: edited config kept as alerts.yaml.rpmsave" grep -q '# edited' "$scratch/etc/dbalert/alerts.yaml.rpmsave"
check "rpm -e: state kept" test -s "$scratch/var/lib/dbalert/state.db"

step "tarball"
tar -tzf "$tarball" >"$out/work/tar-contents.txt"
top=dbalert-$version-$arch-linux-gnu
for f in dbalert man/dbalert.1 completions/dbalert.bash completions/_dbalert completions/dbalert.fish \
  alerts.yaml systemd/dbalert-poll.timer sql/oracle/01_user.sql docs/install.md README.md; do
  check "tarball holds $top/$f" grep -qx "$top/$f" "$out/work/tar-contents.txt"
done

step "sizes"
ls -l "$deb" "$rpm" "$tarball" | awk '{ printf "%s %.1f MB\n", $NF, $5 / 1048576 }'
echo "packaging tests took ${SECONDS}s"
echo "packaging: $passes checks ok, $fails failed"
[ "$fails" -eq 0 ]
