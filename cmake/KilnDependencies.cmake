# Finds the optional dependencies: OpenMP, oneDNN, and CUDA (with cuBLAS(Lt) and cuDNN).
# Each KILN_<X> option is AUTO (use when found), ON (fail when missing) or OFF.

find_package(OpenMP COMPONENTS C)
set(KILN_HAVE_OPENMP ${OpenMP_C_FOUND})

# ---- oneDNN ----
set(KILN_HAVE_DNNL OFF)
if(NOT KILN_DNNL STREQUAL "OFF")
  find_path(KILN_DNNL_INCLUDE_DIR dnnl.h)
  find_library(KILN_DNNL_LIBRARY NAMES dnnl)
  if(KILN_DNNL_INCLUDE_DIR AND KILN_DNNL_LIBRARY)
    set(KILN_HAVE_DNNL ON)
  elseif(KILN_DNNL STREQUAL "ON")
    message(FATAL_ERROR "KILN_DNNL=ON but oneDNN (dnnl.h, libdnnl) was not found")
  endif()
endif()

# ---- CUDA ----
set(KILN_HAVE_CUDA OFF)
if(NOT KILN_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(KILN_NVCC nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
    if(KILN_NVCC)
      set(CMAKE_CUDA_COMPILER ${KILN_NVCC} CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit)
  endif()
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND)
    # cuDNN lives beside the toolkit on some machines and in the distribution's
    # multiarch folders on others.
    find_path(KILN_CUDNN_INCLUDE_DIR cudnn.h
      HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include/x86_64-linux-gnu /usr/include)
    find_library(KILN_CUDNN_LIBRARY NAMES cudnn
      HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64)
    set(KILN_HAVE_CUDA ON)
  elseif(KILN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KILN_CUDA=ON but nvcc / the CUDA toolkit was not found")
  endif()
endif()

if(KILN_HAVE_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "52")
    set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "GPU architectures" FORCE)
  endif()
  if(KILN_CUDNN_INCLUDE_DIR AND KILN_CUDNN_LIBRARY)
    set(KILN_HAVE_CUDNN ON)
  else()
    set(KILN_HAVE_CUDNN OFF)
  endif()
endif()
