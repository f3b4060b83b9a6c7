// Second, independent reference for NanoDet: the original TF.js graph run by TF.js itself (pure-JS
// cpu backend) in Node, decoded by @vladmandic/human 3.0.4's own NanoDet post-processing
// (src/object/nanodet.ts, MIT, re-typed here as plain JS with its constants kept).
// Called by make_reference.py --with-tfjs:
//   node reference_human.mjs MODEL_JSON INPUT_F32 WIDTH HEIGHT OUT_DIR
// Writes OUT_DIR/<output name>.f32 (raw outputs) and OUT_DIR/human.json (decoded detections).
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';

const require = createRequire(path.join(process.cwd(), 'index.js')); // resolve tfjs from the cwd's node_modules
const tf = require('@tensorflow/tfjs');

const [modelJson, inputFile, width, height, outDir] = process.argv.slice(2);
const minConfidence = 0.3;
const iouThreshold = 0.5;
const maxDetected = 100;
const scaleBox = 2.5; // human's constant

async function main() {
  await tf.setBackend('cpu');
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const shards = spec.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelJson), p))));
  const buf = Buffer.concat(shards);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: spec.modelTopology,
    weightSpecs: spec.weightsManifest.flatMap((g) => g.weights),
    weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
  }));
  const raw = fs.readFileSync(inputFile);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [1, 3, 416, 416]);
  const names = model.outputs.map((o) => o.name);
  const res = model.execute(x, names);
  fs.mkdirSync(outDir, { recursive: true });
  for (let k = 0; k < names.length; k++) fs.writeFileSync(path.join(outDir, `${names[k].split(":")[0]}.f32`), Buffer.from(res[k].dataSync().buffer));

  // --- human 3.0.4 process(), with the same thresholds as ours; it skips class 61 like the original
  const size = 416;
  const outputShape = [Number(width), Number(height)];
  const results = [];
  for (const strideSize of [1, 2, 4]) {
    const baseSize = strideSize * 13;
    const scoresT = tf.squeeze(res.find((a) => a.shape[1] === baseSize ** 2 && a.shape[2] === 80));
    const scores = await scoresT.array();
    const featuresT = tf.squeeze(res.find((a) => a.shape[1] === baseSize ** 2 && a.shape[2] < 80));
    const boxesMaxT = tf.reshape(featuresT, [-1, 4, featuresT.shape[1] / 4]);
    const boxIdx = await tf.argMax(boxesMaxT, 2).array();
    for (let i = 0; i < scoresT.shape[0]; i++) {
      for (let j = 0; j < scoresT.shape[1]; j++) {
        const score = scores[i][j];
        if (score > minConfidence && j !== 61) {
          const cx = (0.5 + Math.trunc(i % baseSize)) / baseSize;
          const cy = (0.5 + Math.trunc(i / baseSize)) / baseSize;
          const boxOffset = boxIdx[i].map((a) => a * (baseSize / strideSize / size));
          const [bx, by] = [cx - (scaleBox / strideSize * boxOffset[0]), cy - (scaleBox / strideSize * boxOffset[1])];
          const [bw, bh] = [cx + (scaleBox / strideSize * boxOffset[2]) - bx, cy + (scaleBox / strideSize * boxOffset[3]) - by];
          const boxRaw = [bx, by, bw, bh].map((a) => Math.max(0, Math.min(a, 1)));
          results.push({ score, class_id: j, boxRaw });
        }
      }
    }
  }
  const nmsBoxes = results.map((a) => [a.boxRaw[1], a.boxRaw[0], a.boxRaw[3], a.boxRaw[2]]); // as in human (h/w, not y2/x2)
  const keep = results.length ? await tf.image.nonMaxSuppressionAsync(nmsBoxes, results.map((a) => a.score), maxDetected, iouThreshold, minConfidence) : null;
  const kept = keep ? Array.from(await keep.data()).map((k) => results[k]) : [];
  const dets = kept.map((r) => {
    const [bx, by, bw, bh] = r.boxRaw;
    return { class_id: r.class_id, score: r.score, xyxy: [bx * outputShape[0], by * outputShape[1], (bx + bw) * outputShape[0], (by + bh) * outputShape[1]] };
  });
  fs.writeFileSync(path.join(outDir, 'human.json'), JSON.stringify({ backend: tf.getBackend(), tfjs: tf.version.tfjs, detections: dets }));
}

main();
