"""Benchmarks (`streetsight bench`): camera-like test video, a real RTSP server, the pipeline and the
Ultralytics baseline in their own processes, CPU time read from the OS. Nothing here is used by serving."""
