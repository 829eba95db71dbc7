machine "web" {
  limits {
    memory_max = "2GB"  # ERROR: Invalid memory limit
    cpu_quota  = "150"  # ERROR: Invalid CPU quota
    tasks_max  = 0      # ERROR: tasks_max must be at least 1
    nofile     = -1     # ERROR: Invalid file limit
  }
}
machine "db" {
  limits {
    memory_max = "lots" # ERROR: is not a size
    cpu_quota  = "200%"
  }
}
