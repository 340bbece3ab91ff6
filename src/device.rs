//! Which kernels a native command runs on, as the command line names them:
//! shared by the CLI's commands and the HTTP service.

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// WGSL kernels through wgpu (Vulkan, Metal or DX12).
    Gpu,
    /// The fast CPU path: im2col and SGEMM, on every core.
    Cpu,
    /// The plain-loop CPU twins: the specification, slow.
    CpuReference,
}
