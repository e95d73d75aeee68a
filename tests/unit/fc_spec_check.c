/* SPDX-License-Identifier: MIT */
/*
 * One API request body through src/api/fc_spec.c and src/api/mmds.c, for
 * tests/integration/test_api_schema.py (which walks Firecracker's OpenAPI
 * document and asks this tool about every body it builds):
 *
 *   fc_spec_check [--config FILE] [--mmds FILE] [--dump] METHOD PATH < BODY
 *   fc_spec_check config-file < FILE
 *
 * --config loads a config file first (resources the request refers to);
 * --mmds PUTs a data store first (for PATCH /mmds); --dump prints GET /vm/config after an accepted request. Prints "ok", or
 * "error: <message>" and exits 1; exits 2 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_spec.h"
#include "api/mmds.h"

#define MAX_BODY (1 << 20)

static char *read_all(FILE *f)
{
	char *buf = malloc(MAX_BODY + 1);
	size_t n;

	if (!buf)
		return NULL;
	n = fread(buf, 1, MAX_BODY, f);
	buf[n] = '\0';
	return buf;
}

/* PATH's id after prefix ("/drives/" -> "rootfs"), or NULL when PATH is not under prefix. */
static const char *id_after(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(path, prefix, n) ? NULL : path + n;
}

static int dispatch(struct fc_spec *s, struct mmds *m, const char *method, const char *path, const char *body,
		    struct vmon_error *err)
{
	bool put = !strcmp(method, "PUT"), patch = !strcmp(method, "PATCH");
	const char *id;

	if (put && !strcmp(path, "/boot-source"))
		return fc_spec_put_boot_source(s, body, err);
	if ((id = id_after(path, "/drives/")))
		return put ? fc_spec_put_drive(s, id, body, err) : patch ? fc_spec_patch_drive(s, id, body, err) : -ENOSYS;
	if (!strcmp(path, "/machine-config"))
		return put ? fc_spec_put_machine_config(s, body, err) :
		       patch ? fc_spec_patch_machine_config(s, body, err) : -ENOSYS;
	if ((id = id_after(path, "/network-interfaces/")))
		return put ? fc_spec_put_network_interface(s, id, body, err) :
		       patch ? fc_spec_patch_network_interface(s, id, body, err) : -ENOSYS;
	if (!strcmp(path, "/mmds"))
		return put ? mmds_put(m, body, err) : patch ? mmds_patch(m, body, err) : -ENOSYS;
	if (patch && !strcmp(path, "/balloon"))
		return fc_spec_patch_balloon(s, body, err);
	if (patch && !strcmp(path, "/balloon/statistics"))
		return fc_spec_patch_balloon_stats(s, body, err);
	if (!put)
		return -ENOSYS;
	if (!strcmp(path, "/logger"))
		return fc_spec_put_logger(s, body, err);
	if (!strcmp(path, "/metrics"))
		return fc_spec_put_metrics(s, body, err);
	if (!strcmp(path, "/entropy"))
		return fc_spec_put_entropy(s, body, err);
	if (!strcmp(path, "/serial"))
		return fc_spec_put_serial(s, body, err);
	if (!strcmp(path, "/mmds/config"))
		return fc_spec_put_mmds_config(s, body, err);
	if (!strcmp(path, "/vsock"))
		return fc_spec_put_vsock(s, body, err);
	if (!strcmp(path, "/balloon"))
		return fc_spec_put_balloon(s, body, err);
	return -ENOSYS;
}

/* A --config or --mmds file into the spec or the store. */
static int load(const char *file, struct fc_spec *s, struct mmds *m)
{
	struct vmon_error err = { 0 };
	FILE *f = fopen(file, "r");
	char *text = f ? read_all(f) : NULL;
	int ret;

	if (f)
		fclose(f);
	if (!text) {
		fprintf(stderr, "%s: cannot read\n", file);
		return -EIO;
	}
	ret = s ? fc_spec_load_config_file(s, text, &err) : mmds_put(m, text, &err);
	free(text);
	if (ret)
		fprintf(stderr, "%s: %s\n", file, err.msg);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: fc_spec_check [--config FILE] [--mmds FILE] [--dump] METHOD PATH < BODY\n"
			"       fc_spec_check config-file < FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct vmon_error err = { 0 };
	const char *config = NULL, *mmds_file = NULL;
	bool dump = false;
	struct fc_spec spec;
	struct mmds *store;
	char *body;
	int i = 1, ret;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strcmp(argv[i], "--mmds") && i + 1 < argc)
			mmds_file = argv[++i];
		else if (!strcmp(argv[i], "--dump"))
			dump = true;
		else
			return usage();
	}
	if (!(argc - i == 2 || (argc - i == 1 && !strcmp(argv[i], "config-file"))))
		return usage();
	fc_spec_init(&spec);
	if (mmds_create(&store, 0, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (config && load(config, &spec, NULL))
		return 2;
	if (mmds_file && load(mmds_file, NULL, store))
		return 2;
	body = read_all(stdin);
	if (!body)
		return 2;
	if (argc - i == 1)
		ret = fc_spec_load_config_file(&spec, body, &err);
	else
		ret = dispatch(&spec, store, argv[i], argv[i + 1], body, &err);
	free(body);
	if (ret == -ENOSYS) {
		fprintf(stderr, "%s %s: not a request fc_spec or mmds serves\n", argv[i], argv[i + 1]);
		ret = 2;
	} else if (ret) {
		printf("error: %s\n", err.msg);
		ret = 1;
	} else {
		printf("ok\n");
		if (dump) {
			char *json = fc_spec_vm_config_json(&spec);
			printf("%s\n", json ? json : "(out of memory)");
			free(json);
		}
	}
	fc_spec_free(&spec);
	mmds_destroy(store);
	return ret;
}
