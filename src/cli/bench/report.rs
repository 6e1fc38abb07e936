//! The table `bench` prints: every figure with its GFLOP/s as a fraction of the two ceilings
//! measured in the same run, and, when the PyTorch baseline ran, the ratio against it.

use super::pytorch::Baseline;
use super::{
    BenchOutput, CONV1X1_FLOP, FORWARD_FLOP, HEAD_REST_FLOP, PAIR_TRAIN_FLOP, SCORE_FLOP,
    TRAIN_FLOP, TRAINING_OP_BACKWARD_FLOP, TRAINING_OP_FORWARD_FLOP, TRUNK_FLOP, TRUNK_TRAIN_FLOP,
    TrainingOp, XCORR_FLOP,
};

/// "12.3x" (or "-" when there is nothing to compare with).
fn ratio(x: Option<f64>) -> String {
    match x {
        Some(r) if r.is_finite() => format!("{r:.1}x"),
        _ => "-".into(),
    }
}

pub(super) fn print(out: &BenchOutput) {
    let (gemm, peak) = (out.gemm_gflops, out.fma_peak_gflops);
    println!("backend: {}", out.backend);
    println!(
        "ceilings measured in this run: backend GEMM 1024^3 {gemm:.1} GFLOP/s, CPU multiply-add peak {peak:.1} GFLOP/s"
    );
    let py = out.pytorch.as_ref();
    if let Some(p) = py {
        println!(
            "baseline: PyTorch {} eager on {} ({} threads), run right after (correlation vs golden vectors: rel. L2 {})",
            p.torch,
            p.device.as_deref().unwrap_or("cpu"),
            p.threads,
            p.golden_rel_l2
                .map_or("not checked".into(), |e| format!("{e:.1e}"))
        );
    }
    let pct = |gflops: f64| {
        format!(
            "{:>5.1}% {:>5.1}%",
            100.0 * gflops / gemm,
            100.0 * gflops / peak
        )
    };
    println!("\ncorrelation layer [B, 25, 37, 12] -> [B, 1500, 37, 12]");
    println!(
        "{:<32} {:>5} {:>10} {:>9} {:>8} {:>6} {:>6} {:>9}",
        "implementation", "batch", "ms", "pairs/s", "GFLOP/s", "%GEMM", "%peak", "vs torch"
    );
    for t in &out.xcorr {
        let torch = py.and_then(|p| p.xcorr.iter().find(|x| x.batch == t.batch));
        println!(
            "{:<32} {:>5} {:>10.2} {:>9.0} {:>8.1} {} {:>9}",
            t.implementation,
            t.batch,
            t.millis,
            t.batch as f64 / (t.millis / 1e3),
            t.gflops,
            pct(t.gflops),
            ratio(torch.map(|x| x.millis / t.millis)),
        );
    }
    if let Some(p) = py {
        for x in &p.xcorr {
            let gflops = XCORR_FLOP * x.batch as f64 / (x.millis * 1e6);
            println!(
                "{:<32} {:>5} {:>10.2} {:>9.0} {:>8.1} {} {:>9}",
                "PyTorch unfold + bmm",
                x.batch,
                x.millis,
                x.batch as f64 / (x.millis / 1e3),
                gflops,
                pct(gflops),
                "1.0x"
            );
        }
    }
    if let Some(op) = &out.training_op {
        print_training_op(op, py, &pct);
    }
    let gf = |pairs_per_s: f64, flop: f64| pairs_per_s * flop / 1e9;
    println!(
        "\n{:<40} {:>12} {:>8} {:>6} {:>6} {:>12} {:>9}",
        "whole network and ranking", "", "GFLOP/s", "%GEMM", "%peak", "PyTorch", "vs torch"
    );
    let row = |name: &str, value: String, gflops: f64, torch: Option<String>, r: Option<f64>| {
        println!(
            "{:<40} {:>12} {:>8.1} {} {:>12} {:>9}",
            name,
            value,
            gflops,
            pct(gflops),
            torch.unwrap_or_else(|| "-".into()),
            ratio(r)
        );
    };
    let f = out.forward_pairs_per_s;
    row(
        "forward, batch 32 (pairs/s)",
        format!("{f:.1}"),
        gf(f, FORWARD_FLOP),
        py.map(|p| format!("{:.1}", p.forward_pairs_per_s)),
        py.map(|p| f / p.forward_pairs_per_s),
    );
    let st = &out.forward_stages_ms;
    println!(
        "  stages: trunk (64 images) {:.1} ms ({:.1} GFLOP/s) | correlation + ReLU + 1x1 conv {:.1} ms ({:.1} GFLOP/s) | rest of head {:.1} ms ({:.1} GFLOP/s)",
        st.trunk,
        64.0 * TRUNK_FLOP / 1e6 / st.trunk,
        st.correlation,
        32.0 * (XCORR_FLOP + CONV1X1_FLOP) / 1e6 / st.correlation,
        st.head,
        32.0 * HEAD_REST_FLOP / 1e6 / st.head,
    );
    let t = out.train_pairs_per_s;
    row(
        "training step, batch 32 (pairs/s)",
        format!("{t:.1}"),
        gf(t, TRAIN_FLOP),
        py.map(|p| format!("{:.1}", p.train_pairs_per_s)),
        py.map(|p| t / p.train_pairs_per_s),
    );
    let t = out.train_reuse_pairs_per_s;
    let images_per_pair = (out.reuse_k * out.reuse_m) as f64 / out.reuse_pairs.max(1) as f64;
    row(
        &format!(
            "training step, reuse {} x {} images = {} pairs (pairs/s)",
            out.reuse_k, out.reuse_m, out.reuse_pairs
        ),
        format!("{t:.1}"),
        gf(t, PAIR_TRAIN_FLOP + images_per_pair * TRUNK_TRAIN_FLOP),
        py.and_then(|p| p.train_reuse_pairs_per_s)
            .map(|v| format!("{v:.1}")),
        py.and_then(|p| p.train_reuse_pairs_per_s).map(|v| t / v),
    );
    let t = out.train_hard_pairs_per_s;
    row(
        &format!("  the same, hard negatives (pool {})", out.hard_pool),
        format!("{t:.1}"),
        gf(t, PAIR_TRAIN_FLOP + images_per_pair * TRUNK_TRAIN_FLOP),
        None,
        None,
    );
    let r = out.rank_1000_seconds;
    row(
        "rank 1 query vs 1,000 cached (s)",
        format!("{r:.2}"),
        gf(1000.0 / r, SCORE_FLOP),
        py.map(|p| format!("{:.2}", p.rank_1000_seconds)),
        py.map(|p| p.rank_1000_seconds / r),
    );
    if let Some(s) = out.rank_20000_seconds {
        row(
            "rank 1 query vs 20,000 cached (s)",
            format!("{s:.2}"),
            gf(20000.0 / s, SCORE_FLOP),
            None,
            None,
        );
    }
}

/// The fused training op's forward and backward rows.
fn print_training_op(op: &TrainingOp, py: Option<&Baseline>, pct: &dyn Fn(f64) -> String) {
    println!(
        "\ntraining op: correlation + ReLU + 1x1 conv, fused, on the reuse step's {} pairs of {} images",
        op.pairs, op.images
    );
    println!(
        "{:<32} {:>5} {:>10} {:>9} {:>8} {:>6} {:>6} {:>12} {:>9}",
        "pass", "pairs", "ms", "pairs/s", "GFLOP/s", "%GEMM", "%peak", "PyTorch ms", "vs torch"
    );
    let rows = [
        (
            "forward",
            op.forward_ms,
            TRAINING_OP_FORWARD_FLOP,
            py.and_then(|p| p.train_op_forward_ms),
        ),
        (
            "backward (all gradients)",
            op.backward_ms,
            TRAINING_OP_BACKWARD_FLOP,
            py.and_then(|p| p.train_op_backward_ms),
        ),
    ];
    for (name, ms, flop, torch) in rows {
        let gflops = op.pairs as f64 * flop / (ms * 1e6);
        println!(
            "{:<32} {:>5} {:>10.2} {:>9.0} {:>8.1} {} {:>12} {:>9}",
            name,
            op.pairs,
            ms,
            op.pairs as f64 / (ms / 1e3),
            gflops,
            pct(gflops),
            torch.map_or("-".into(), |t| format!("{t:.2}")),
            ratio(torch.map(|t| t / ms)),
        );
    }
}
