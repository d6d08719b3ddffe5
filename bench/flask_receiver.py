# The Python (Flask) callback receiver of kie.ai's Veo 3.1 callback page
# (docs/reference: kie-veo3.1-callbacks.zh.md, "回调接收示例 / Python"),
# copied as it is, for bench/delivery.sh: it downloads every video inside
# the request handler with requests, then answers 200.  Run under Flask's
# own server, as the sample does (app.run, threaded by default).
#
# Changed from the sample, and only this: the address and port come from
# FLASK_HOST and FLASK_PORT (defaults: the sample's 0.0.0.0 and 3000), so
# that the benchmark can run it on a free loopback port.  The downloads go
# to downloads/ in the working directory, as in the sample.
from flask import Flask, request, jsonify
import requests
import json
import os

app = Flask(__name__)

@app.route('/veo3-1-callback', methods=['POST'])
def handle_callback():
    data = request.json
    
    code = data.get('code')
    msg = data.get('msg')
    callback_data = data.get('data', {})
    task_id = callback_data.get('taskId')
    
    print(f"收到 Veo3.1 视频生成回调:")
    print(f"任务 ID: {task_id}")
    print(f"状态: {code}, 消息: {msg}")
    
    if code == 200:
        # 视频生成成功
        info = callback_data.get('info', {})
        result_urls = info.get('resultUrls')
        origin_urls = info.get('originUrls')
        resolution = info.get('resolution')
        fallback_flag = callback_data.get('fallbackFlag', False)
        
        print("视频生成成功！")
        print(f"生成视频 URL: {result_urls}")
        print(f"视频分辨率: {resolution}")
        print(f"是否使用托底模型: {'是' if fallback_flag else '否'}")
        if origin_urls:
            print(f"原始视频 URL: {origin_urls}")
        
        # 下载生成的视频文件
        if result_urls:
            for i, url in enumerate(result_urls):
                if url:
                    try:
                        video_filename = f"veo3.1_generated_{task_id}_{i}.mp4"
                        download_file(url, video_filename)
                        print(f"视频 {i + 1} 下载成功")
                    except Exception as e:
                        print(f"视频 {i + 1} 下载失败: {e}")
        
        # 下载原始视频文件（如果存在）
        if origin_urls:
            for i, url in enumerate(origin_urls):
                if url:
                    try:
                        original_filename = f"veo3.1_original_{task_id}_{i}.mp4"
                        download_file(url, original_filename)
                        print(f"原始视频 {i + 1} 下载成功")
                    except Exception as e:
                        print(f"原始视频 {i + 1} 下载失败: {e}")
                
    else:
        # 视频生成失败
        print(f"Veo3.1 视频生成失败: {msg}")
        
        # 处理特定错误类型
        if code == 400:
            print("客户端错误 - 检查提示词和内容政策")
            if '内容政策' in msg:
                print("内容审核失败 - 请修改提示词")
            elif '英文提示词' in msg:
                print("语言错误 - 仅支持英文提示词")
            elif '不安全的图片' in msg:
                print("图片安全检查失败 - 请更换图片")
        elif code == 422:
            print("托底失败 - 建议开启托底功能（enableFallback: true）")
        elif code == 500:
            print("服务器内部错误 - 请稍后重试")
        elif code == 501:
            print("任务失败 - 视频生成失败")
    
    # 返回 200 状态码确认收到回调
    return jsonify({'code': 200, 'msg': 'success'}), 200

def download_file(url, filename):
    """从 URL 下载文件并保存到本地"""
    response = requests.get(url, stream=True)
    response.raise_for_status()
    
    os.makedirs('downloads', exist_ok=True)
    filepath = os.path.join('downloads', filename)
    
    with open(filepath, 'wb') as f:
        for chunk in response.iter_content(chunk_size=8192):
            f.write(chunk)

if __name__ == '__main__':
    app.run(host=os.environ.get('FLASK_HOST', '0.0.0.0'), port=int(os.environ.get('FLASK_PORT', '3000')))
