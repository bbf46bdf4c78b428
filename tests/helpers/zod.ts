/** Re-export so throwaway pipelines written into temporary directories can use the pinned zod. */
export { z } from "zod";
