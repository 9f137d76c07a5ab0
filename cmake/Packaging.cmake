# The Debian package: `cpack --config BUILD/CPackConfig.cmake` after a build (from a Release build
# for a release; see the README). It installs /usr/bin/topup (stripped), the systemd unit and the
# example configuration as a conffile; postinst makes the master key.
# cpack packages what was built and builds nothing itself (its package test runs under ctest).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS topup RUNTIME DESTINATION bin)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/packaging/topup.service DESTINATION /lib/systemd/system)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/packaging/topup.toml DESTINATION /etc/topup)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME topup)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "topup maintainers <topup@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Mobile airtime top-up orders: merchant API, order engine, supplier channels")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# The absolute destinations above (/etc, /lib) are meant.
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries' packages, found by dpkg-shlibdeps (dpkg-dev) from the binary.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql, redis-server, rabbitmq-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# gzip: a few seconds for the binary, where xz takes much longer for little.
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
include(CPack)
