# examples/no-network.hcl as services.nspawnctl options: a command in an
# ephemeral machine without network, with user namespacing, idmapped binds
# and tmpfs scratch space.
{
  machines.builder = {
    root.image = "/var/lib/machines/builder.raw";
    boot = false;
    command = [ "/usr/bin/make" "-C" "/src" "all" ];
    ephemeral = true;
    privateUsers = "pick";
    bind = [ "/srv/build/out:/out:idmap" ];
    bindReadOnly = [ "/srv/build/src:/src:idmap" ];
    tmpfs = [ "/var/tmp:mode=1777,size=2G" "/build" ];
    networkMode = "none";
  };
}
