# Names exactly at their limits: a 64-character machine name (its veth name is
# shortened as nspawn does) and a 12-character zone.
machine "a234567890123456789012345678901234567890123456789012345678901234" {}
machine "web-1.example.org" {
  network {
    zone = "abcdefghijkl"
  }
}
zone "abcdefghijkl" {}
