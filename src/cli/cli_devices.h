/* SPDX-License-Identifier: MIT */
#ifndef VMON_CONFIG_DEVICES_H
#define VMON_CONFIG_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"

/*
 * Parsers of the device option values into cfg (strings are kept in
 * cfg->text). Each returns 0 or a negative errno with err naming the option
 * and the bad word.
 *   --drive path=FILE[,readonly=on|off][,id=SERIAL]
 *   --net user[,hostfwd=tcp::8080-:80][,mac=52:54:00:12:34:56] | --net tap[=NAME][,mac=...]
 *   --vconsole socket=PATH
 */
int config_parse_drive(struct vm_config *cfg, const char *value, struct vmon_error *err);
int config_parse_net(struct vm_config *cfg, const char *value, struct vmon_error *err);
/* --rng[=bw=..,ops=..]: value NULL or the rate-limiter words --drive takes (each buffer: 1 op, its bytes). */
int config_parse_rng(struct vm_config *cfg, const char *value, struct vmon_error *err);
int config_parse_vconsole(struct vm_config *cfg, const char *value, struct vmon_error *err);
/* --balloon amount_mib=N[,deflate_on_oom=on|off][,stats_interval=S][,free_page_reporting=on|off] */
int config_parse_balloon(struct vm_config *cfg, const char *value, struct vmon_error *err);
/* --vsock cid=N,uds=PATH */
int config_parse_vsock(struct vm_config *cfg, const char *value, struct vmon_error *err);

/* "52:54:00:12:34:56" (exactly len == 17 bytes, unicast); 0 or -EINVAL. */
int config_parse_mac(const char *text, size_t len, uint8_t mac[6]);
/* "tcp:[ADDR]:PORT-[ADDR]:PORT" or "udp:..."; 0 or -EINVAL. */
int config_parse_hostfwd(const char *text, size_t len, struct net_hostfwd *fwd);

#endif
