//! Flex tensors as host slices and back, for the host kernels behind the custom ops
//! ([`super::xcorr`]'s and [`super::conv`]'s flex implementations).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{DType, FloatDType, Shape, TensorData};

/// A flex float tensor as contiguous f32 values on the host.
pub(crate) struct HostValues {
    tensor: FlexTensor,
    start: usize,
    end: usize,
}

impl HostValues {
    /// Casts to f32 and makes contiguous only when needed (otherwise zero-copy).
    pub(crate) fn new(tensor: FlexTensor) -> Self {
        let tensor = if tensor.dtype() == DType::F32 {
            tensor
        } else {
            Flex::float_cast(tensor, FloatDType::F32)
        };
        let tensor = if tensor.layout().contiguous_offsets().is_some() {
            tensor
        } else {
            tensor.to_contiguous()
        };
        // A freshly made contiguous tensor starts at 0 and spans its elements.
        let (start, end) = tensor
            .layout()
            .contiguous_offsets()
            .unwrap_or((0, tensor.layout().num_elements()));
        Self { tensor, start, end }
    }

    pub(crate) fn values(&self) -> &[f32] {
        &self.tensor.storage::<f32>()[self.start..self.end]
    }
}

/// `[B, C, H, W]` of a rank-4 tensor (zeros for any missing axis).
pub(crate) fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    let d = |i: usize| shape.get(i).copied().unwrap_or(0);
    [d(0), d(1), d(2), d(3)]
}

/// A flex tensor of `dtype` from f32 values (no copy for f32).
pub(crate) fn to_flex<S: Into<Shape>>(values: Vec<f32>, shape: S, dtype: DType) -> FlexTensor {
    let out = FlexTensor::from_data(TensorData::new(values, shape));
    match dtype {
        DType::F64 => Flex::float_cast(out, FloatDType::F64),
        DType::F16 => Flex::float_cast(out, FloatDType::F16),
        DType::BF16 => Flex::float_cast(out, FloatDType::BF16),
        _ => out,
    }
}
