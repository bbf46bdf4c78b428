/**
 * A real one-node Slurm cluster for the executor tests, from Debian's `slurm-wlm` and `munge`
 * (`make test` installs them as root): a fresh munge key, munged as user munge, a generated
 * slurm.conf with this machine's CPUs and memory in a temporary directory, then slurmctld and
 * slurmd. SLURM_CONF points this process (and so every sbatch/scontrol it starts) at that
 * config; `stop` ends the daemons and restores the environment.
 */
import { join } from "node:path";

/** A running test cluster. */
export interface SlurmCluster {
  directory: string;
  stop(): Promise<void>;
}

/** Why a cluster cannot be started here, or null when it can (root, and the daemons exist). */
export async function slurmUnavailable(): Promise<string | null> {
  if (Deno.uid() !== 0) return "the Slurm daemons must be started as root";
  for (
    const program of [
      "/usr/sbin/slurmctld",
      "/usr/sbin/slurmd",
      "/usr/sbin/munged",
      "/usr/bin/sbatch",
    ]
  ) {
    if (!await Deno.stat(program).then(() => true, () => false)) {
      return `${program} is missing (apt-get install slurm-wlm munge; make test does it)`;
    }
  }
  return null;
}

async function run(program: string, args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(program, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/** This machine's CPUs and memory (MiB) as Slurm's slurmd -C reports them. */
async function nodeShape(): Promise<{ cpus: number; memoryMiB: number }> {
  const text = await run("/usr/sbin/slurmd", ["-C"]);
  const cpus = Number(/CPUs=(\d+)/.exec(text)?.[1] ?? navigator.hardwareConcurrency);
  const memoryMiB = Number(/RealMemory=(\d+)/.exec(text)?.[1] ?? 4096);
  return { cpus, memoryMiB };
}

/** Starts the cluster and waits (up to 30 s) until its node is idle. */
export async function startSlurmCluster(): Promise<SlurmCluster> {
  const directory = await Deno.makeTempDir({ prefix: "slurm-test-" });
  for (const sub of ["state", "spool", "log"]) await Deno.mkdir(join(directory, sub));
  const hostname = (await run("hostname", ["-s"])).trim();
  const { cpus, memoryMiB } = await nodeShape();

  // munge: a fresh key, readable by munge only, and the daemon as user munge.
  await Deno.mkdir("/etc/munge", { recursive: true });
  await Deno.mkdir("/run/munge", { recursive: true });
  const key = crypto.getRandomValues(new Uint8Array(1024));
  await Deno.writeFile("/etc/munge/munge.key", key, { mode: 0o400 });
  await run("chown", ["munge:munge", "/etc/munge/munge.key", "/run/munge"]);
  await run("chmod", ["400", "/etc/munge/munge.key"]);
  await run("pkill", ["-x", "munged"]).catch(() => {});
  await run("runuser", ["-u", "munge", "--", "/usr/sbin/munged", "--force"]);

  const conf = join(directory, "slurm.conf");
  await Deno.writeTextFile(
    conf,
    [
      "ClusterName=pipeline-test",
      `SlurmctldHost=${hostname}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "AuthType=auth/munge",
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_CPU_Memory",
      "MpiDefault=none",
      "ReturnToService=2",
      "SchedulerType=sched/builtin",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      "SlurmctldPort=16817",
      "SlurmdPort=16818",
      `StateSaveLocation=${join(directory, "state")}`,
      `SlurmdSpoolDir=${join(directory, "spool")}`,
      `SlurmctldPidFile=${join(directory, "slurmctld.pid")}`,
      `SlurmdPidFile=${join(directory, "slurmd.pid")}`,
      `SlurmctldLogFile=${join(directory, "log", "slurmctld.log")}`,
      `SlurmdLogFile=${join(directory, "log", "slurmd.log")}`,
      `NodeName=${hostname} CPUs=${cpus} RealMemory=${memoryMiB} State=UNKNOWN`,
      "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
      "",
    ].join("\n"),
  );
  const previous = Deno.env.get("SLURM_CONF");
  Deno.env.set("SLURM_CONF", conf);
  await run("/usr/sbin/slurmctld", ["-f", conf]);
  await run("/usr/sbin/slurmd", ["-f", conf]);

  const stop = async () => {
    for (const pidFile of ["slurmd.pid", "slurmctld.pid"]) {
      const pid = await Deno.readTextFile(join(directory, pidFile)).catch(() => "");
      if (pid.trim() !== "") await run("kill", [pid.trim()]).catch(() => {});
    }
    await run("pkill", ["-x", "munged"]).catch(() => {});
    if (previous === undefined) Deno.env.delete("SLURM_CONF");
    else Deno.env.set("SLURM_CONF", previous);
    // The daemons take a moment to let go of their files.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await Deno.remove(directory, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const state = await run("sinfo", ["-h", "-o", "%t"]).catch(() => "");
    if (/^idle/m.test(state)) return { directory, stop };
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const log = await Deno.readTextFile(join(directory, "log", "slurmctld.log")).catch(() => "");
  await stop();
  throw new Error(`the test Slurm node did not become idle in 30 s; slurmctld.log:\n${log}`);
}
