#include "mixq/gpu/gemm/dynload.h"

#include <dlfcn.h>

#include <initializer_list>
#include <mutex>

namespace mixq::gpu::dyn {

namespace {

// One library: the handle and the first error, filled once by std::call_once.
template <typename Table>
struct Loaded {
  std::once_flag once;
  Table table;
  Status status;
};

// Opens the first of `names` that loads; the message lists every name and its dlerror().
void* open_first(std::initializer_list<const char*> names, Status* status) {
  std::string errors;
  for (const char* name : names) {
    // RTLD_LOCAL: the library's symbols stay out of the global namespace, where they could bind
    // to another copy loaded by someone else in the process (PyTorch, ONNX Runtime).
    void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) return h;
    const char* why = dlerror();
    if (!errors.empty()) errors += "; ";
    errors += why != nullptr ? why : name;
  }
  *status = Status(StatusCode::kNoDevice,
                   str_cat("cannot load ", *names.begin(),
                           " (needed for GPU GEMMs and "
                           "convolutions; install it or add its folder to LD_LIBRARY_PATH): ",
                           errors));
  return nullptr;
}

template <typename Fn>
bool resolve(void* handle, const char* library, const char* name, Fn* fn, Status* status) {
  dlerror();  // clear
  void* p = dlsym(handle, name);
  if (p == nullptr) {
    const char* why = dlerror();
    *status = Status(StatusCode::kNoDevice, str_cat(library, " has no ", name, " (too old?): ",
                                                    why != nullptr ? why : "symbol not found"));
    return false;
  }
  *fn = reinterpret_cast<Fn>(p);
  return true;
}

}  // namespace

Expected<const CublasLt*> cublaslt() {
  static Loaded<CublasLt> lib;
  std::call_once(lib.once, [] {
    void* h = open_first(
        {"libcublasLt.so.13", "libcublasLt.so", "/usr/local/cuda/lib64/libcublasLt.so.13"},
        &lib.status);
    if (h == nullptr) return;
    CublasLt& t = lib.table;
    // Each resolve stops at the first missing symbol, leaving its error in lib.status.
#define MIXQ_RESOLVE_(name) \
  if (!resolve(h, "libcublasLt", #name, &t.name, &lib.status)) return;
    MIXQ_CUBLASLT_FUNCTIONS(MIXQ_RESOLVE_)
#undef MIXQ_RESOLVE_
    // The unversioned fallback name could be another major version, whose structures
    // (cublasLtMatmulHeuristicResult_t, attribute numbers) need not match these headers.
    const size_t version = t.cublasLtGetVersion();
    if (version / 10000 != CUBLAS_VER_MAJOR) {
      lib.status = Status(StatusCode::kNoDevice,
                          str_cat("libcublasLt reports version ", version,
                                  ", mixq was built for cuBLASLt ", CUBLAS_VER_MAJOR, ".x"));
    }
  });
  if (!lib.status.ok()) return lib.status;
  return &lib.table;
}

Expected<const Cudnn*> cudnn() {
  static Loaded<Cudnn> lib;
  std::call_once(lib.once, [] {
    void* h = open_first({"libcudnn.so.9", "libcudnn.so", "/usr/local/cuda/lib64/libcudnn.so.9"},
                         &lib.status);
    if (h == nullptr) return;
    Cudnn& t = lib.table;
#define MIXQ_RESOLVE_(name) \
  if (!resolve(h, "libcudnn", #name, &t.name, &lib.status)) return;
    MIXQ_CUDNN_FUNCTIONS(MIXQ_RESOLVE_)
#undef MIXQ_RESOLVE_
    // The shim loads whatever libcudnn_*.so.9 it finds; a mismatched major version would fail
    // later in obscure ways, so check it here.
    const size_t version = t.cudnnGetVersion();
    if (version / 10000 != CUDNN_MAJOR) {
      lib.status = Status(StatusCode::kNoDevice,
                          str_cat("libcudnn reports version ", version, ", mixq was built for ",
                                  "cuDNN ", CUDNN_MAJOR, ".x"));
    }
  });
  if (!lib.status.ok()) return lib.status;
  return &lib.table;
}

std::string cublas_status_text(const CublasLt& lt, cublasStatus_t s) {
  return str_cat(lt.cublasLtGetStatusName(s), " (", lt.cublasLtGetStatusString(s), ")");
}

std::string cudnn_status_text(const Cudnn& dnn, cudnnStatus_t s) {
  return str_cat(dnn.cudnnGetErrorString(s), " (", static_cast<int>(s), ")");
}

}  // namespace mixq::gpu::dyn
