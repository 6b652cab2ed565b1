// CUDA emulation (tests/cuda_emu/emu.h): the device properties and stream that
// csrc/cuda/ asks for. A small device, so that grids are capped and grid-stride loops
// take more than one step at the sizes the tests use.
#pragma once
#include <c10/cuda/CUDAGuard.h>

namespace at::cuda {
struct EmulatedDeviceProp {
  int multiProcessorCount = 2;
  int maxThreadsPerMultiProcessor = 1024;
};
inline const EmulatedDeviceProp* getCurrentDeviceProperties() {
  static const EmulatedDeviceProp prop;
  return &prop;
}
struct EmulatedStream {};
inline EmulatedStream getCurrentCUDAStream() { return {}; }
}  // namespace at::cuda
