//! Criterion benches of the host kernels, each beside the implementation it replaces:
//! `cargo bench --bench kernels` (add `-- xcorr` etc. to filter). The figures that matter for
//! the app, with ratios against PyTorch, come from `reid-explorer bench --pytorch PYTHON`.

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use reid_explorer::model::conv::host::{ConvDims, conv_backward, conv_forward};
use reid_explorer::model::samples::pseudo_random as values;
use reid_explorer::model::trunk_cpu::{HostConv, trunk_cpu};
use reid_explorer::model::xcorr::fused::xcorr_conv1x1_cpu;
use reid_explorer::model::xcorr::{Isa, XcorrGeometry, xcorr_cpu_with, xcorr_reference};
use std::hint::black_box;

fn xcorr(c: &mut Criterion) {
    let geo = XcorrGeometry::default();
    for batch in [1usize, 32] {
        let dims = [batch, 25, 37, 12];
        let n = dims.iter().product();
        let (x, y) = (values(n, 1), values(n, 2));
        let mut g = c.benchmark_group(format!("xcorr/B{batch}"));
        g.sample_size(10);
        for isa in Isa::available() {
            g.bench_function(format!("{isa:?}"), |b| {
                b.iter(|| black_box(xcorr_cpu_with(isa, &x, &y, dims, &geo, 0.0)))
            });
        }
        let device = Device::flex();
        let tx = Tensor::<4>::from_data(TensorData::new(x.clone(), dims), &device);
        let ty = Tensor::<4>::from_data(TensorData::new(y.clone(), dims), &device);
        g.bench_function("reference (tensor ops)", |b| {
            b.iter(|| black_box(xcorr_reference(tx.clone(), ty.clone(), &geo).into_data()))
        });
        let (k, depth) = (25, 1500);
        let (w, bias) = (values(k * depth, 3), values(k, 4));
        g.bench_function("fused with ReLU + 1x1 conv", |b| {
            b.iter(|| {
                black_box(xcorr_conv1x1_cpu(
                    Isa::best(),
                    (&x, &y),
                    dims,
                    &geo,
                    0.0,
                    (&w, &bias),
                ))
            })
        });
        g.finish();
    }
}

fn trunk(c: &mut Criterion) {
    let conv = |cout: usize, cin: usize, seed: u64| HostConv {
        weight: values(cout * cin * 25, seed),
        bias: values(cout, seed + 1),
        cout,
        cin,
        k: 5,
    };
    let (c1, c2) = (conv(20, 3, 10), conv(25, 20, 20));
    let dims = [64, 3, 160, 60];
    let images = values(dims.iter().product(), 5);
    let mut g = c.benchmark_group("trunk/64 images");
    g.sample_size(10);
    g.bench_function("host conv+ReLU+pool x2", |b| {
        b.iter(|| black_box(trunk_cpu(Isa::best(), &images, dims, (&c1, &c2))))
    });
    g.finish();

    // The second trunk convolution alone, forward and backward, as training runs it.
    let d = ConvDims {
        batch: 32,
        cin: 20,
        cout: 25,
        k: 5,
        h: 78,
        w: 28,
    };
    let x = values(d.batch * d.cin * d.h * d.w, 6);
    let grad = values(d.batch * d.cout * d.ho() * d.wo(), 7);
    let mut g = c.benchmark_group("conv2/B32");
    g.sample_size(10);
    g.bench_function("forward", |b| {
        b.iter(|| black_box(conv_forward(Isa::best(), &x, &c2.weight, &c2.bias, d)))
    });
    g.bench_function("backward (dx, dw, db)", |b| {
        b.iter(|| black_box(conv_backward(Isa::best(), &x, &c2.weight, &grad, d, true)))
    });
    g.finish();
}

criterion_group!(benches, xcorr, trunk);
criterion_main!(benches);
