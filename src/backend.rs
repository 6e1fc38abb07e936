//! Choosing the compute device at run time.
//!
//! `auto` takes a hardware wgpu adapter (discrete, integrated or virtual GPU) when there is one
//! and otherwise the CPU backend (flex), with a one-line notice: a software Vulkan adapter such
//! as lavapipe is 15-30x slower than flex and is never chosen automatically. `gpu` insists on
//! wgpu (a software adapter is accepted, which is how CI tests the GPU code path). `cpu` is flex.

use std::fmt;

use burn::tensor::{Device, DeviceKind};

/// What the user asked for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else the CPU.
    #[default]
    Auto,
    /// wgpu on any adapter, software adapters included; an error if there is none.
    Gpu,
    /// The CPU backend (flex).
    Cpu,
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        })
    }
}

/// Which kind of backend a [`ComputeDevice`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's flex backend on the CPU.
    Cpu,
    /// burn's wgpu backend (CubeCL kernels).
    Gpu,
}

/// One wgpu adapter as seen by the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub api: String,
    /// True for software rasterisers (lavapipe / llvmpipe, adapter type `Cpu`).
    pub software: bool,
}

/// The device chosen, with a human-readable description.
#[derive(Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: BackendKind,
    /// For example `cpu (flex)` or `gpu (wgpu: NVIDIA H200, Vulkan)`.
    pub description: String,
    /// A notice for the user when `auto` fell back (printed once on stderr by the CLI).
    pub notice: Option<String>,
}

impl fmt::Debug for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputeDevice")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .finish()
    }
}

/// Why no device could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "--backend gpu: no wgpu adapter found (install a Vulkan driver, e.g. mesa-vulkan-drivers, or use --backend cpu)"
    )]
    NoAdapter,
}

/// List the wgpu adapters present (may be empty). Never panics.
pub fn adapters() -> Vec<AdapterSummary> {
    let result = std::panic::catch_unwind(|| {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .into_iter()
            .map(|a| {
                let info = a.get_info();
                AdapterSummary {
                    name: info.name,
                    api: format!("{:?}", info.backend),
                    software: info.device_type == wgpu::DeviceType::Cpu,
                }
            })
            .collect::<Vec<_>>()
    });
    result.unwrap_or_default()
}

/// The CPU device.
pub fn cpu() -> ComputeDevice {
    ComputeDevice {
        device: Device::flex(),
        kind: BackendKind::Cpu,
        description: "cpu (flex)".into(),
        notice: None,
    }
}

fn gpu(adapter: &AdapterSummary) -> ComputeDevice {
    let kind = if adapter.software {
        DeviceKind::Cpu
    } else {
        DeviceKind::DefaultDevice
    };
    ComputeDevice {
        device: Device::wgpu(kind),
        kind: BackendKind::Gpu,
        description: format!("gpu (wgpu: {}, {})", adapter.name, adapter.api),
        notice: None,
    }
}

/// Choose the device for `choice` (see the module docs for the rules).
pub fn select(choice: BackendChoice) -> Result<ComputeDevice, BackendError> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Gpu => {
            let found = adapters();
            let best = found
                .iter()
                .find(|a| !a.software)
                .or_else(|| found.first())
                .ok_or(BackendError::NoAdapter)?;
            Ok(gpu(best))
        }
        BackendChoice::Auto => {
            let found = adapters();
            if let Some(hw) = found.iter().find(|a| !a.software) {
                return Ok(gpu(hw));
            }
            let mut dev = cpu();
            dev.notice = Some(match found.first() {
                Some(sw) => format!(
                    "note: only a software GPU adapter ({}) found; using the CPU backend",
                    sw.name
                ),
                None => "note: no GPU adapter found; using the CPU backend".into(),
            });
            Ok(dev)
        }
    }
}
