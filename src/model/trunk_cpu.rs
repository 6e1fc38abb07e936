//! Inference fast path on the CPU: the trunk (5x5 convolution, bias, ReLU, 2x2 max-pool, twice)
//! on host data, one image per rayon task, with the SIMD micro-kernel of [`super::simd`] as a
//! direct convolution: for each output row and chunk of 16 output columns, the accumulators of
//! up to 13 output channels are updated by a broadcast weight times 16 input values read at
//! the offset of each (input channel, ky, kx) — no im2col matrix, no layout transposes.
//!
//! Same function as burn's `conv2d` -> ReLU -> `max_pool2d` (tested against an f64 direct
//! convolution for every instruction-set copy, and through the network against the burn
//! trunk). Not differentiable: training keeps burn's convolutions.

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::simd::{Block, Isa, LANES, block, run_with};

/// One convolution layer on the host: `weight` `[Cout, Cin, K, K]`, `bias` `[Cout]`.
#[derive(Debug, Clone)]
pub struct HostConv {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub cout: usize,
    pub cin: usize,
    pub k: usize,
}

impl HostConv {
    /// The weights transposed to `[Cin*K*K, Cout]` (the micro-kernel broadcasts `a[j*Cout + i]`).
    fn transposed(&self) -> Vec<f32> {
        let n = self.cin * self.k * self.k;
        let mut wt = vec![0.0f32; n * self.cout];
        for (i, row) in self.weight.chunks_exact(n).enumerate() {
            for (j, v) in row.iter().enumerate() {
                wt[j * self.cout + i] = *v;
            }
        }
        wt
    }
}

/// Scratch of one layer, reused across the images one rayon worker handles.
#[derive(Default)]
struct LayerScratch {
    /// Input with each row padded to the width the last chunk reads: `[Cin, H, Ws]`.
    pad: Vec<f32>,
    /// Convolution output, rows padded to whole chunks: `[Cout, Ho, Cs]`.
    conv: Vec<f32>,
}

/// Per-image scratch: one per layer and the first layer's pooled output `[C1, H1, W1]`.
#[derive(Default)]
struct Scratch {
    layers: [LayerScratch; 2],
    mid: Vec<f32>,
}

/// Geometry of one valid convolution + 2x2 pool over an `[H, W]` input.
struct Geo {
    h: usize,
    w: usize,
    /// Output rows and columns of the convolution.
    ho: usize,
    wo: usize,
    /// Chunks of LANES output columns, the conv buffer's row stride, the padded input width.
    chunks: usize,
    cs: usize,
    ws: usize,
}

impl Geo {
    fn new(h: usize, w: usize, k: usize) -> Self {
        let (ho, wo) = (h + 1 - k, w + 1 - k);
        let chunks = wo.div_ceil(LANES);
        Self {
            h,
            w,
            ho,
            wo,
            chunks,
            cs: chunks * LANES,
            ws: chunks * LANES + k - 1,
        }
    }
}

/// `maxpool2(relu(conv(x) + bias))` of one image: `x` `[Cin, H, W]` -> `out` `[Cout, Ho/2, Wo/2]`.
#[inline(always)]
fn conv_relu_pool(
    isa: Isa,
    layer: (&HostConv, &[f32], &[usize]),
    x: &[f32],
    g: &Geo,
    s: &mut LayerScratch,
    out: &mut [f32],
) {
    let (conv, wt, offsets) = layer;
    let (cin, cout) = (conv.cin, conv.cout);
    // Padded input (the columns beyond W stay zero: they only feed discarded outputs).
    if s.pad.len() != cin * g.h * g.ws {
        s.pad = vec![0.0; cin * g.h * g.ws];
    }
    for (dst, src) in s.pad.chunks_exact_mut(g.ws).zip(x.chunks_exact(g.w)) {
        dst[..g.w].copy_from_slice(src);
    }
    if s.conv.len() != cout * g.ho * g.cs {
        s.conv = vec![0.0; cout * g.ho * g.cs];
    }
    for y in 0..g.ho {
        for c in 0..g.chunks {
            let b = Block {
                a: wt,
                a_stride: cout,
                rows: cout,
                b: &s.pad[y * g.ws + c * LANES..],
                b_offsets: offsets,
                lanes: LANES,
                stride: g.ho * g.cs,
                accumulate: false,
                relu_b: false,
            };
            block(isa, &b, &mut s.conv[y * g.cs + c * LANES..]);
        }
    }
    // 2x2 max-pool (floor), then bias and ReLU (both commute with the max).
    let (hp, wp) = (g.ho / 2, g.wo / 2);
    for (co, plane) in s.conv.chunks_exact(g.ho * g.cs).enumerate() {
        let bias = conv.bias[co];
        for py in 0..hp {
            let (r0, r1) = (&plane[2 * py * g.cs..], &plane[(2 * py + 1) * g.cs..]);
            let dst = &mut out[(co * hp + py) * wp..][..wp];
            for (px, d) in dst.iter_mut().enumerate() {
                let m = r0[2 * px]
                    .max(r0[2 * px + 1])
                    .max(r1[2 * px])
                    .max(r1[2 * px + 1]);
                *d = (m + bias).max(0.0);
            }
        }
    }
}

/// Offsets of each (ci, ky, kx) of a `k`x`k` kernel in a `[Cin, H, Ws]` padded input.
fn conv_offsets(cin: usize, k: usize, g: &Geo) -> Vec<usize> {
    let mut v = Vec::with_capacity(cin * k * k);
    for ci in 0..cin {
        for ky in 0..k {
            for kx in 0..k {
                v.push(ci * g.h * g.ws + ky * g.ws + kx);
            }
        }
    }
    v
}

/// The trunk on host data: images `[B, 3, H, W]` flattened -> features `[B, C2, H2, W2]`
/// flattened, with `(H2, W2)` returned beside them.
pub fn trunk_cpu(
    isa: Isa,
    images: &[f32],
    [b, c, h, w]: [usize; 4],
    (conv1, conv2): (&HostConv, &HostConv),
) -> (Vec<f32>, [usize; 2]) {
    assert_eq!(c, conv1.cin, "image channels");
    assert_eq!(conv1.cout, conv2.cin, "layer channels");
    let g1 = Geo::new(h, w, conv1.k);
    let (h1, w1) = (g1.ho / 2, g1.wo / 2);
    let g2 = Geo::new(h1, w1, conv2.k);
    let (h2, w2) = (g2.ho / 2, g2.wo / 2);
    let (wt1, wt2) = (conv1.transposed(), conv2.transposed());
    let (off1, off2) = (
        conv_offsets(c, conv1.k, &g1),
        conv_offsets(conv2.cin, conv2.k, &g2),
    );
    let per_out = conv2.cout * h2 * w2;
    let mut out = vec![0.0f32; b * per_out];
    if out.is_empty() {
        return (out, [h2, w2]);
    }
    out.par_chunks_mut(per_out)
        .enumerate()
        .for_each_init(Scratch::default, |s, (i, out)| {
            let x = &images[i * c * h * w..(i + 1) * c * h * w];
            s.mid.resize(conv1.cout * h1 * w1, 0.0);
            let [l1, l2] = &mut s.layers;
            run_with(isa, |isa| {
                conv_relu_pool(isa, (conv1, &wt1, &off1), x, &g1, l1, &mut s.mid);
                conv_relu_pool(isa, (conv2, &wt2, &off2), &s.mid, &g2, l2, out);
            });
        });
    (out, [h2, w2])
}

/// The trunk through the host path on tensors: images `[B, 3, H, W]` -> `[B, C2, H2, W2]`.
/// `None` anywhere but a plain (non-autodiff) flex device on the fast path (the caller then
/// runs burn's layers).
pub fn trunk_features(
    images: Tensor<4>,
    conv1: (Tensor<4>, Tensor<1>),
    conv2: (Tensor<4>, Tensor<1>),
) -> Option<Tensor<4>> {
    let device: Device = images.device();
    if device.is_autodiff() || super::xcorr::path_for(&device) != super::xcorr::XcorrPath::Cpu {
        return None;
    }
    let dims = images.dims();
    let host = |(w, b): (Tensor<4>, Tensor<1>)| -> Option<HostConv> {
        let [cout, cin, k, k2] = w.dims();
        (k == k2 && b.dims() == [cout]).then_some(())?;
        Some(HostConv {
            weight: w.try_into_vec_as::<f32>().ok()?,
            bias: b.try_into_vec_as::<f32>().ok()?,
            cout,
            cin,
            k,
        })
    };
    let (c1, c2) = (host(conv1)?, host(conv2)?);
    let fits = c1.cin == dims[1]
        && c2.cin == c1.cout
        && dims[2] + 1 >= c1.k + 2 * c2.k
        && dims[3] + 1 >= c1.k + 2 * c2.k;
    if !fits {
        return None;
    }
    let x = images.try_into_vec_as::<f32>().ok()?;
    let (out, [h2, w2]) = trunk_cpu(Isa::best(), &x, dims, (&c1, &c2));
    Some(Tensor::from_data(
        TensorData::new(out, [dims[0], c2.cout, h2, w2]),
        &device,
    )) // [B, C2, H2, W2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::pseudo_random as values;

    /// f64 `maxpool2(relu(conv(x) + bias))` of one image.
    fn reference(x: &[f32], (h, w): (usize, usize), conv: &HostConv) -> (Vec<f64>, usize, usize) {
        let (ho, wo) = (h + 1 - conv.k, w + 1 - conv.k);
        let k = conv.k;
        let at = |co: usize, y: usize, xx: usize| {
            let mut s = f64::from(conv.bias[co]);
            for ci in 0..conv.cin {
                for ky in 0..k {
                    for kx in 0..k {
                        let wv = conv.weight[((co * conv.cin + ci) * k + ky) * k + kx];
                        s += f64::from(wv) * f64::from(x[(ci * h + y + ky) * w + xx + kx]);
                    }
                }
            }
            s.max(0.0)
        };
        let (hp, wp) = (ho / 2, wo / 2);
        let mut out = vec![0.0; conv.cout * hp * wp];
        for co in 0..conv.cout {
            for py in 0..hp {
                for px in 0..wp {
                    let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(dy, dx)| at(co, 2 * py + dy, 2 * px + dx))
                        .fold(f64::MIN, f64::max);
                    out[(co * hp + py) * wp + px] = m;
                }
            }
        }
        (out, hp, wp)
    }

    fn layer(cout: usize, cin: usize, k: usize, seed: u64) -> HostConv {
        HostConv {
            weight: values(cout * cin * k * k, seed)
                .iter()
                .map(|v| v * 0.2)
                .collect(),
            bias: values(cout, seed + 1).iter().map(|v| v * 0.1).collect(),
            cout,
            cin,
            k,
        }
    }

    #[test]
    fn every_copy_matches_the_f64_trunk() {
        // Widths below, at and above a chunk; odd sizes so the floor pooling drops a row.
        for (dims, c1, c2, k) in [
            ([2, 3, 40, 27], 6, 5, 5),
            ([1, 2, 23, 45], 13, 3, 3),
            ([1, 3, 30, 60], 20, 25, 5),
        ] {
            let [b, c, h, w] = dims;
            let (l1, l2) = (layer(c1, c, k, 10), layer(c2, c1, k, 20));
            let images = values(b * c * h * w, 5);
            let mut want = Vec::new();
            for i in 0..b {
                let x = &images[i * c * h * w..(i + 1) * c * h * w];
                let (mid, h1, w1) = reference(x, (h, w), &l1);
                let mid: Vec<f32> = mid.iter().map(|v| *v as f32).collect();
                want.extend(reference(&mid, (h1, w1), &l2).0);
            }
            for isa in Isa::available() {
                let (got, _) = trunk_cpu(isa, &images, dims, (&l1, &l2));
                assert_eq!(got.len(), want.len());
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (f64::from(*g) - w).abs())
                    .fold(0.0, f64::max);
                assert!(worst < 1e-4, "{isa:?} {dims:?}: {worst}");
            }
        }
    }
}
