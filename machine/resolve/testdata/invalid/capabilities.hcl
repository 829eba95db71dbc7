machine "web" {
  capabilities      = ["CAP_NET_ADMIN", "NET_ADMIN", "all"] # ERROR: Invalid capability
  drop_capabilities = ["cap_sys_admin"] # ERROR: drop_capabilities: "cap_sys_admin" is not a capability name
}
