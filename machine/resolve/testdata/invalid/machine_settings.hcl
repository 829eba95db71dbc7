machine "web" {
  private_users = "maybe" # ERROR: Invalid private_users
  activation    = "now"   # ERROR: Invalid activation strategy
}
machine "db" {
  private_users = "65536"
  activation    = "reload"
}
