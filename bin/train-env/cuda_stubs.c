/* Stand-ins for the CUDA libraries that PyPI's torchvision wheel (built for CUDA) links against, so that
 * it loads beside the CPU build of torch. Only the CPU kernels (nms, roi_align, ...) are ever called:
 * torch.cuda.is_available() is False in a CPU build, so the CUDA kernels are unreachable. The names are
 * the mangled C++ symbols torchvision/_C.so imports (nm -D --undefined-only); every function aborts
 * loudly if something does reach it. Built by bin/_bootstrap.sh (_torchvision_cuda_stubs) into three
 * libraries: libcudart.so.N (-DCUDART, with the symbol version N), libc10_cuda.so (the default) and an
 * empty libtorch_cuda.so (-DEMPTY). */
#include <stdio.h>
#include <stdlib.h>

static void unreachable(const char *name) {
  fprintf(stderr, "streetsight: CUDA stub %s called in the CPU-only training environment\n", name);
  abort();
}
#define STUB(sym) void sym(void) { unreachable(#sym); }

#if defined(EMPTY)
#elif defined(CUDART)
/* Called by _C.so's static initialisers to register its GPU code: accepted and ignored. */
static void *fat_binary_handle[1];
void **__cudaRegisterFatBinary(void *fat_cubin) { (void)fat_cubin; return fat_binary_handle; }
void __cudaRegisterFatBinaryEnd(void **handle) { (void)handle; }
void __cudaUnregisterFatBinary(void **handle) { (void)handle; }
void __cudaRegisterFunction(void) {}
void __cudaRegisterVar(void) {}
void __cudaInitModule(void) {}
STUB(__cudaGetKernel) STUB(__cudaLaunchKernel) STUB(__cudaPopCallConfiguration)
STUB(__cudaPushCallConfiguration) STUB(cudaDeviceSynchronize) STUB(cudaEventCreateWithFlags)
STUB(cudaEventDestroy) STUB(cudaEventElapsedTime) STUB(cudaEventQuery) STUB(cudaEventRecord)
STUB(cudaEventSynchronize) STUB(cudaGetErrorString) STUB(cudaGetLastError) STUB(cudaStreamIsCapturing)
STUB(cudaStreamWaitEvent)
#else
void *_ZN3c104cuda20CUDACachingAllocator9allocatorE = 0; /* c10::cuda::CUDACachingAllocator::allocator */
STUB(_ZN2at4cuda26getCurrentDevicePropertiesEv) STUB(_ZN3c104cuda12device_countEv)
STUB(_ZN3c104cuda14ExchangeDeviceEa) STUB(_ZN3c104cuda14MaybeSetDeviceEa)
STUB(_ZN3c104cuda17getStreamFromPoolEba) STUB(_ZN3c104cuda17getStreamFromPoolEia)
STUB(_ZN3c104cuda20getCurrentCUDAStreamEa) STUB(_ZN3c104cuda20getDefaultCUDAStreamEa)
STUB(_ZN3c104cuda20setCurrentCUDAStreamENS0_10CUDAStreamE)
STUB(_ZN3c104cuda29c10_cuda_check_implementationEiPKcS2_jb) STUB(_ZN3c104cuda9GetDeviceEPa)
STUB(_ZN3c104cuda9SetDeviceEab) STUB(_ZNK3c104cuda10CUDAStream11synchronizeEv)
STUB(_ZNK3c104cuda10CUDAStream5queryEv) STUB(_ZNK3c104cuda10CUDAStream6streamEv)
#endif
