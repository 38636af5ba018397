# Install layout and the Debian package (issue #10). Included once from the root CMakeLists.txt.
#
#   cmake --install BUILD [--prefix /usr]       # lays out the files below (DESTDIR= for a staging root)
#   (cd BUILD && cpack -G DEB)                  # edge-agent_<version>_<arch>.deb in BUILD
#   scripts/check-package.sh BUILD              # builds the .deb and checks it (CI)
#
# Layout (FHS; the unit and the example configuration name these paths, so they are fixed):
#   /usr/bin/edge-agent                          the binary (install rule in agent/CMakeLists.txt)
#   /lib/systemd/system/edge-agent.service       the service unit
#   /usr/lib/sysusers.d/edge-agent.conf          the system user it runs as
#   /etc/edge-agent/agent.yaml                   example configuration, a dpkg conffile
#   /usr/share/doc/edge-agent/                   README, DEPLOYING, TROUBLESHOOTING, REFERENCE,
#                                                schemas/, examples/ (configurations, serial drop-in)
# plc-sim (tools/) is a test and demo tool and is not installed.

# The unit runs /usr/bin/edge-agent: install there unless the caller chose a prefix.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX "/usr" CACHE PATH "Install prefix" FORCE)
endif()

set(EDGE_DOC_DIR "share/doc/edge-agent")

install(FILES systemd/edge-agent.service DESTINATION /lib/systemd/system)
install(FILES systemd/sysusers.d/edge-agent.conf DESTINATION lib/sysusers.d)
install(FILES packaging/agent.yaml DESTINATION /etc/edge-agent)
install(FILES README.md docs/DEPLOYING.md docs/TROUBLESHOOTING.md config/REFERENCE.md
        DESTINATION ${EDGE_DOC_DIR})
install(DIRECTORY docs/schemas/ DESTINATION ${EDGE_DOC_DIR}/schemas FILES_MATCHING PATTERN "*.json")
install(FILES config/examples/modbus-tcp.yaml config/examples/modbus-rtu.yaml
              config/examples/mqtt-sensors.yaml config/examples/full-line.yaml
              systemd/serial-port.conf
        DESTINATION ${EDGE_DOC_DIR}/examples)

# --- CPack: one binary package, edge-agent_<version>_<arch>.deb ---------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "edge-agent")
set(CPACK_PACKAGE_VENDOR "edge-agent")
set(CPACK_PACKAGE_CONTACT "edge-agent maintainers <edge-agent@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "machine-learning fault prediction next to the production line")
set(CPACK_PACKAGE_DESCRIPTION
    "edge-agent polls PLCs over Modbus TCP/RTU and sensors over MQTT, keeps every reading in\n\
SQLite, scores fixed-step windows locally with GRU/LSTM models (ONNX) and publishes alarms\n\
over MQTT with store-and-forward. Runs as the sandboxed systemd service edge-agent.service.")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Absolute destinations (/etc, /lib/systemd) go into the package root, not the build machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "/usr")  # the prefix in DESTDIR mode, whatever CMAKE_INSTALL_PREFIX is
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "misc")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Runtime dependencies: dpkg-shlibdeps derives them from the shared libraries the binary links
# (libmodbus5, libpaho-mqttpp3-1, libsqlite3-0, libyaml-cpp0.7, libcurl4, libssl3, libsystemd0,
# libprotobuf32, libonnx1, ...). Added by hand: what the maintainer scripts run.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "systemd | systemd-standalone-sysusers | systemd-sysusers, init-system-helpers (>= 1.54~)")
# postinst: creates the user, enables and starts the unit; prerm/postrm: stop, mask, purge, as
# debhelper's dh_installsystemd writes them. conffiles: /etc/edge-agent/agent.yaml.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/conffiles;${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
