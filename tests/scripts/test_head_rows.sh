#!/usr/bin/env bash
# The one-token LM-head kernels read one row at a time on AMD CPUs (at avx2 the F16 head's and
# the screen pass's rows from the two halves of a thread's range side by side) and 4 rows side
# by side elsewhere (bn_cpu_head_rows, kernels/cpu.h). The unit tests of those kernels and of the heads
# built on them (plain F16/BF16/F32 head, --lm-head q8, the screened head's exact recompute)
# run here under both settings (BITNET_HEAD_ROWS=1 and 4), so that the path this CPU does not
# take by default is tested too; and `bitnet run` generates the same ids under both.
source "$(dirname "$0")/lib.sh"

for rows in 1 4; do
    for t in test_kernels test_lm_head test_head_screen; do
        bin="$BUILD/tests/$t"
        if [ ! -x "$bin" ]; then
            not_ok "${t}_rows_$rows" "$bin missing (make tests)"
            continue
        fi
        if BITNET_HEAD_ROWS=$rows "$bin" >"$TMP/$t.out" 2>&1 && ! grep -q "^not ok" "$TMP/$t.out" && grep -q "^ok" "$TMP/$t.out"; then
            ok "${t}_rows_$rows ($(grep -c '^ok' "$TMP/$t.out") cases)"
        else
            not_ok "${t}_rows_$rows" "$(grep -v '^ok' "$TMP/$t.out" | tail -20)"
        fi
    done
done

M="$TMP/rows.gguf"
if "$BITNET" gen-model "$M" --arch bitnet-b1.58 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 \
        --vocab-size 3000 --wtype i2_s --etype f16 --seed 9 >"$TMP/gen.log" 2>&1; then
    for head in model q8 screen; do
        a=$(BITNET_HEAD_ROWS=1 "$BITNET" run -m "$M" --tokens 1,291,64,315 --no-bos --print-ids -n 16 -t 2 -c 48 --lm-head "$head" 2>/dev/null | tail -n 1)
        b=$(BITNET_HEAD_ROWS=4 "$BITNET" run -m "$M" --tokens 1,291,64,315 --no-bos --print-ids -n 16 -t 2 -c 48 --lm-head "$head" 2>/dev/null | tail -n 1)
        if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "run_ids_${head}_rows_1_eq_4"; else not_ok "run_ids_${head}_rows_1_eq_4" "1: '$a' 4: '$b'"; fi
    done
else
    not_ok gen_model "$(tail -3 "$TMP/gen.log")"
fi
