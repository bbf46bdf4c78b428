/**
 * An S3 remote (`s3://bucket/prefix`) through the AWS SDK. Credentials and region come from the
 * SDK's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, AWS_REGION);
 * an S3-compatible server (MinIO, Ceph, a test server) is named by AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL and addressed path-style, as such servers expect. Uploads go in parts, so an
 * object larger than S3's 5 GiB single-request limit (paper-scale activations) still moves, and
 * S3 shows an object only once every part has arrived.
 */
import { createReadStream } from "node:fs";
import { posix } from "node:path";
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { PipelineError, UsageError } from "./errors.ts";
import type { RemoteStore } from "./remote_store.ts";

/** Parts of a multipart upload: S3's minimum is 5 MiB; 64 MiB keeps part counts small. */
const PART_BYTES = 64 * 1024 * 1024;

/** The S3 client settings the environment asks for (module comment). */
function clientConfig(): S3ClientConfig {
  const endpoint = Deno.env.get("AWS_ENDPOINT_URL_S3") ?? Deno.env.get("AWS_ENDPOINT_URL");
  const region = Deno.env.get("AWS_REGION") ?? Deno.env.get("AWS_DEFAULT_REGION");
  if (endpoint === undefined) return region === undefined ? {} : { region };
  // A self-hosted server ignores the region, but the SDK insists on one.
  return { endpoint, forcePathStyle: true, region: region ?? "us-east-1" };
}

/** An S3 bucket and key prefix holding the cache's layout. */
export class S3Store implements RemoteStore {
  private constructor(
    readonly name: string,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly client: S3Client,
  ) {}

  /** The store for `s3://bucket/prefix` (the prefix may be empty). */
  static fromUrl(url: string): S3Store {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (match === null) {
      throw new UsageError(`${url}: an S3 remote is s3://bucket or s3://bucket/prefix`);
    }
    const prefix = match[2].replace(/\/+$/, "");
    return new S3Store(url, match[1], prefix, new S3Client(clientConfig()));
  }

  /** Refuses, with a usage error, a bucket that is not there (a typo in `pull s3://…`). */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (httpStatus(error) === 404) {
        throw new UsageError(`remote ${this.name}: there is no bucket "${this.bucket}"`);
      }
      await this.request(`reach bucket ${this.bucket}`, () => Promise.reject(error));
    }
  }

  private key(path: string): string {
    return this.prefix === "" ? path : posix.join(this.prefix, path);
  }

  /** Runs an S3 request, turning an SDK error into one that names the remote and the fix. */
  private async request<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const message = (error as Error).message || (error as Error).name;
      throw new PipelineError(
        `S3 remote ${this.name}: cannot ${what}: ${message} (credentials come from ` +
          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws; a server other than " +
          "AWS from AWS_ENDPOINT_URL)",
        { cause: error },
      );
    }
  }

  async has(path: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return true;
    } catch (error) {
      if (httpStatus(error) === 404) return false;
      return await this.request(`look up ${path}`, () => Promise.reject(error));
    }
  }

  async download(path: string, destination: string): Promise<void> {
    const response = await this.request(
      `download ${path}`,
      () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) })),
    );
    if (response.Body === undefined) {
      throw new PipelineError(`S3 remote ${this.name}: ${path} came back without a body`);
    }
    const file = await Deno.open(destination, { write: true, create: true, truncate: true });
    await response.Body.transformToWebStream().pipeTo(file.writable);
  }

  async upload(source: string, path: string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(path), Body: createReadStream(source) },
      partSize: PART_BYTES,
      queueSize: 2,
    });
    await this.request(`upload ${path}`, () => upload.done());
  }
}

/** The HTTP status of an SDK error, if it has one. */
function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
