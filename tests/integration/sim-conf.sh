# Sourced by the shell integration tests: the daemon's config for the sim
# backend in virtual time, with the mechanism of config/sim.conf.
#   write_sim_conf CONF_PATH DB_PATH
write_sim_conf() {
  cat > "$1" <<CONF
[pump]
backend = sim
[mechanism]
lead_pitch_mm = 1.0
steps_per_rev = 200
microsteps = 16
syringe_inner_diameter_mm = 26.6
syringe_volume_ml = 60
[database]
path = $2
[simulation]
clock = virtual
CONF
}
